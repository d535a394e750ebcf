;; Hooks whose results the host must refuse.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{not json")
  (data (i32.const 32) "\22\ff\fe\22")
  (data (i32.const 48) "\22a\00b\22")
  (data (i32.const 64) "[\22\5cu0000\22]")
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  ;; 64 bytes at 0xffffff00: far outside one page.
  (func (export "out_of_bounds") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 0xffffff00)))
  ;; Length zero.
  (func (export "empty") (param i32 i32) (result i64) (i64.const 16))
  (func (export "invalid_json") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 9) (i64.const 32)) (i64.const 16)))
  (func (export "invalid_utf8") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 4) (i64.const 32)) (i64.const 32)))
  (func (export "nul_byte") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 5) (i64.const 32)) (i64.const 48)))
  ;; Valid JSON whose string holds an escaped NUL: ["\u0000"].
  (func (export "escaped_nul") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 10) (i64.const 32)) (i64.const 64)))
  ;; An i32 where the ABI says i64.
  (func (export "wrong_type") (param i32 i32) (result i32) (i32.const 0)))
