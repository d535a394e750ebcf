;; prepare_metadata grows the memory by 100 pages (6.25 MiB) and echoes its input; manifest
;; grows it by 2,000 pages (125 MiB, over the default cap of 64 MiB) and traps when that fails.
;; The module declares no maximum: the host's cap is what stops it.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func $grow_then_echo (param $pages i32) (param $p i32) (param $n i32) (result i64)
    (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then unreachable))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 32))
            (i64.extend_i32_u (local.get $p))))
  (func (export "prepare_metadata") (param $p i32) (param $n i32) (result i64)
    (call $grow_then_echo (i32.const 100) (local.get $p) (local.get $n)))
  (func (export "manifest") (param $p i32) (param $n i32) (result i64)
    (call $grow_then_echo (i32.const 2000) (local.get $p) (local.get $n))))
