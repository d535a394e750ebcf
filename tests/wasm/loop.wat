;; Hooks that never return: the time limit must stop them.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func $forever (param i32 i32) (result i64)
    (loop $again (br $again))
    (i64.const 0))
  (export "manifest" (func $forever))
  (export "prepare_metadata" (func $forever)))
