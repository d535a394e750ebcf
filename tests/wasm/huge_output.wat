;; A manifest hook answering 16 MiB + 1 bytes, one more than an event may hold.
(module
  (memory (export "memory") 257)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "manifest") (param i32 i32) (result i64)
    (i64.shl (i64.const 16777217) (i64.const 32))))
