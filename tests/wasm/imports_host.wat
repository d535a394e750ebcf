;; Imports a host function: refused at upload, hooks get no imports.
(module
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "manifest") (param $p i32) (param $n i32) (result i64)
    (call $log (local.get $n))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 32))
            (i64.extend_i32_u (local.get $p)))))
