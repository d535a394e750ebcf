"""WASM hook modules (§9.3): upload validates with WABT and stores the bytes once per digest;
metadata and bytes come back; a module belongs to its project and survives a new config
revision (⚠ Q2); bad modules, modules that import anything, missing projects and non-superusers
are refused."""
import hashlib
import os

from harness import REFERENCE, Checks, Server, upload_config

V2 = "/api/v2"
WASM = {"Content-Type": "application/wasm"}
c = Checks()
srv = Server()
try:
    with open(os.path.join(REFERENCE, "minimal_survey.v1.yaml")) as f:
        text = f.read()
    # A module with one exported function returning 42: (func (export "answer") (result i32) i32.const 42)
    module = (b"\0asm\x01\x00\x00\x00"
              b"\x01\x05\x01\x60\x00\x01\x7f"          # type section: () -> i32
              b"\x03\x02\x01\x00"                      # function section: one function of type 0
              b"\x07\x0a\x01\x06answer\x00\x00"        # export "answer" = func 0
              b"\x0a\x06\x01\x04\x00\x41\x2a\x0b")     # code: i32.const 42; end
    sha = hashlib.sha256(module).hexdigest()

    st, err, _, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=module, headers=WASM)
    c.eq("no active config", (st, err.get("code")), (404, "no_active_config"))
    cfg = upload_config(srv, text)
    st, active, _, _ = srv.request("GET", V2 + "/project-configs/minimal_survey")

    st, err, _, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=b"hello", headers=WASM)
    c.eq("not WebAssembly", (st, err.get("code"), err.get("field")), (400, "invalid_wasm", "body"))
    broken = module[:-3]  # the code section is cut short
    st, err, _, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=broken, headers=WASM)
    c.eq("a truncated module is refused by the validator", (st, err.get("code")), (400, "invalid_wasm"))
    bad_type = module.replace(b"\x41\x2a\x0b", b"\x01\x01\x0b")  # no value left for the i32 result
    st, err, _, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=bad_type, headers=WASM)
    c.eq("a module that does not type-check is refused", st, 400)

    # Issue #25: hooks run without imports, so a module that imports a host function is refused
    # now, naming the import, and nothing is stored.
    importing = (b"\0asm\x01\x00\x00\x00"
                 b"\x01\x04\x01\x60\x00\x00"            # type section: () -> ()
                 b"\x02\x0b\x01\x03env\x03log\x00\x00")  # import env.log: func of type 0
    st, err, _, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=importing, headers=WASM)
    c.eq("a module importing a host function is refused", (st, err.get("code"), err.get("field")),
         (400, "invalid_wasm", "body"))
    c.true("the refusal names the import", "env.log (function)" in err.get("detail", ""))
    st, _, _, _ = srv.request("GET", f"{V2}/project-configs/minimal_survey/wasm/{hashlib.sha256(importing).hexdigest()}")
    c.eq("the refused module is not stored", st, 404)

    st, row, hdrs, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=module, headers=WASM)
    c.eq("upload", (st, row.get("wasm_sha256"), row.get("project_config_id")), (201, sha, active["uuid"]))
    st, again, _, _ = srv.request("POST", V2 + "/project-configs/minimal_survey/wasm", raw_body=module, headers=WASM)
    c.eq("a re-upload is an upsert", (st, again.get("uploaded_at")), (201, row.get("uploaded_at")))

    st, meta, _, _ = srv.request("GET", f"{V2}/project-configs/minimal_survey/wasm/{sha}")
    c.eq("metadata", (st, meta.get("wasm_sha256"), meta.get("size_bytes")), (200, sha, len(module)))
    st, _, hdrs, body = srv.request("GET", f"{V2}/project-configs/minimal_survey/wasm/{sha}?download=true")
    # Every byte of this module is ASCII, so the harness's text decoding keeps it intact.
    c.eq("download", (st, hdrs.get("Content-Type"), body.encode("ascii")), (200, "application/wasm", module))
    st, _, _, _ = srv.request("GET", f"{V2}/project-configs/minimal_survey/wasm/{'0' * 64}")
    c.eq("unknown digest", st, 404)

    # ⚠ Q2: a new config revision keeps the project's module.
    upload_config(srv, text.replace("timeout_seconds: 60", "timeout_seconds: 61", 1))
    st, meta2, _, _ = srv.request("GET", f"{V2}/project-configs/minimal_survey/wasm/{sha}")
    c.eq("still there after a new revision", (st, meta2.get("project_config_id")), (200, active["uuid"]))

    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    c.eq("one ProjectWasmUploaded", sum(e["type"] == "ProjectWasmUploaded" for e in feed["events"]), 1)
finally:
    srv.stop()
c.finish()
