"""The contract against a running server (issue #7).

* GET /api/v2/openapi.json is, byte for byte, what `beampipe openapi export` prints: the
  server's own route table (bound to its context) is the one documented without a database.
* Every documented operation is served, and a documented path answers 405 with exactly the
  documented methods in Allow for any other method.
* The Redoc page and its bundle are served from the binary.
* A scenario (config upload, deployment profiles, sources and discovery, an execution run to
  completion on the simulated backends, jobs, sign-in, and 4xx errors) records every response;
  each is matched to its documented operation and validated with ajv against the documented
  schema in strict form (no undocumented fields), status and headers included.
"""
import json
import os
import re
import socket
import subprocess
import tempfile
import uuid

from harness import REFERENCE, Checks, Server, create_profile, ready_sources, wait_execution, wallaby_config

V2 = "/api/v2"
NODE_DIR = os.environ["BEAMPIPE_OPENAPI_NODE"]
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "false", "BEAMPIPE_SIMULATED_RUN_MS": "500",
       "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200", "BEAMPIPE_SLURM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
# One Slurm credential slot for GET /slurm/credentials/{slot}.
CREDS = tempfile.mkdtemp(prefix="bp-contract-creds-")
os.makedirs(os.path.join(CREDS, "slot-a"))
with open(os.path.join(CREDS, "slot-a", "known_hosts"), "w") as f:
    f.write("[h]:22 ssh-ed25519 AAAA\n")
ENV["BEAMPIPE_SSH_CREDENTIALS_DIR"] = CREDS
# Operations the scenario cannot bring to success without a failure to stage; they are still
# exercised (and validated) with their error answers.
NO_SUCCESS_EXPECTED = {
    ("POST", "/api/v2/executions/{id}/retry"),  # needs a failed execution
    ("POST", "/api/v2/executions/{id}/submission/abandon"),  # needs an unresolved submission
    ("POST", "/api/v2/executions/{id}/outputs/verify"),  # needs a profile requiring verification
    ("POST", "/api/v2/jobs/{id}/requeue"),  # needs a failed or dead-lettered job
    # Need a standing DALiuGE (the simulated DIM keeps no sessions to list); test_dim_backend
    # checks both against the stand-in.
    ("GET", "/api/v2/daliuge/inspect"),
    ("GET", "/api/v2/daliuge/sessions"),
}

c = Checks()
export = subprocess.run([os.environ["BEAMPIPE_BIN"], "openapi", "export"], capture_output=True, text=True)
c.eq("openapi export exits 0", export.returncode, 0)
if export.returncode != 0:
    print(export.stderr)
    c.finish()
doc = json.loads(export.stdout)

templates = []
for template, item in doc["paths"].items():
    segs = template.strip("/").split("/")
    pattern = "^/" + "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segs) + "$"
    templates.append((re.compile(pattern), template, sum(not s.startswith("{") for s in segs)))


def template_of(path):
    """The documented template a concrete path matches (literal segments win, as in the router)."""
    found = [(lit, t) for rx, t, lit in templates if rx.match(path.split("?")[0])]
    return max(found)[1] if found else None


records = []
srv = Server(extra_env=ENV)
plain_request = srv.request


def recording_request(method, path, body=None, headers=None, raw_body=None, auth=True):
    st, parsed, hdrs, text = plain_request(method, path, body=body, headers=headers, raw_body=raw_body,
                                           auth=auth)
    template = template_of(path)
    if template is None:
        c.true(f"{method} {path} matches a documented path", False)
    else:
        records.append({"method": method, "path": path, "template": template, "status": st,
                        "content_type": hdrs.get("Content-Type", ""), "headers": hdrs,
                        "body": parsed, "raw_length": len(text)})
    return st, parsed, hdrs, text


srv.request = recording_request


def req(method, path, body=None, **kw):
    return srv.request(method, V2 + path, body, **kw)


try:
    srv.wait_ready()

    # --- the served document is the exported one
    st, served, hdrs, text = req("GET", "/openapi.json", auth=False)
    c.eq("openapi.json is open", st, 200)
    same = text + "\n" == export.stdout
    c.true("served document == beampipe openapi export", same)
    if not same:
        ops = lambda d: {(m, p, o.get("operationId")) for p, item in d["paths"].items() for m, o in item.items()}
        print("served only:", sorted(ops(served) - ops(doc), key=str))
        print("exported only:", sorted(ops(doc) - ops(served), key=str))

    # --- the Redoc page works offline: the bundle comes from this server
    st, _, hdrs, page = req("GET", "/docs", auth=False)
    c.eq("docs page", (st, hdrs.get("Content-Type", "").split(";")[0]), (200, "text/html"))
    c.true("docs page loads the local bundle and the local spec",
           'src="/api/v2/docs/redoc.standalone.js"' in page and 'spec-url="/api/v2/openapi.json"' in page)
    c.true("docs page names no other host", "http://" not in page and "https://" not in page)
    st, _, hdrs, js = req("GET", "/docs/redoc.standalone.js", auth=False)
    c.eq("redoc bundle", (st, hdrs.get("Content-Type", "").split(";")[0]), (200, "application/javascript"))
    c.true("redoc bundle is the real one", len(js) > 500000 and "Redoc" in js)
    st, _, _, notices = req("GET", "/docs/redoc.standalone.js.LICENSE.txt", auth=False)
    c.eq("redoc licence notices", (st, "MIT" in notices), (200, True))

    # --- every documented operation is served; other methods on its path answer 405
    for template, item in doc["paths"].items():
        concrete = re.sub(r"\{([^}]+)\}", lambda m: str(uuid.uuid4()) if m.group(1) == "id" else "nosuch",
                          template)
        methods = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
        for method in sorted(methods):
            st, body, _, _ = srv.request(method, concrete, auth=False)
            routed = not (st == 404 and body and body.get("detail", "").startswith("no route for")) and st != 405
            c.true(f"{method} {template} is served (got {st} {body})", routed)
        # Allow lists what every template matching this concrete path serves (/sources/bulk
        # also matches /sources/{id}).
        expected = {m.upper() for rx, t, _ in templates if rx.match(concrete) for m in doc["paths"][t]
                    if m in ("get", "post", "put", "patch", "delete")}
        st, body, hdrs, _ = plain_request("PUT", concrete, auth=False)
        allowed = {m.strip() for m in hdrs.get("Allow", "").split(",") if m.strip()}
        c.eq(f"PUT {template}: 405 allowing the documented methods", (st, allowed), (405, expected))

    # --- health
    for p in ("/health", "/health/tap", "/ready", "/metrics"):
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, 200)

    # --- sign-in
    admin = {"username": srv.env["BEAMPIPE_ADMIN_USERNAME"], "password": srv.env["BEAMPIPE_ADMIN_PASSWORD"]}
    st, tok, _, _ = req("POST", "/login", admin, auth=False)
    c.eq("login", st, 200)
    st, _, _, _ = srv.request("POST", V2 + "/login", raw_body=(
        f"username={admin['username']}&password={admin['password']}").encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=False)
    c.eq("login with a form body", st, 200)
    st, _, _, _ = req("POST", "/login", dict(admin, password="wrong"), auth=False)
    c.eq("bad password", st, 401)
    st, _, _, _ = req("POST", "/login", {"username": "x"}, auth=False)
    c.eq("login without a password", st, 400)
    st, pair, _, _ = req("POST", "/refresh", {"refresh_token": tok["refresh_token"]}, auth=False)
    c.eq("refresh", st, 200)
    st, _, _, _ = req("POST", "/refresh", {"refresh_token": "not-a-token"}, auth=False)
    c.eq("refresh with garbage", st, 401)
    st, _, _, _ = req("GET", "/user/me")
    c.eq("current user", st, 200)
    st, _, _, _ = req("GET", "/user/me", auth=False)
    c.eq("current user needs a token", st, 401)
    st, _, _, _ = req("POST", "/logout", {"refresh_token": pair["refresh_token"]}, auth=False)
    c.eq("logout", st, 204)
    st, _, _, _ = req("POST", "/logout", {}, auth=False)
    c.eq("logout without tokens", st, 400)

    # --- project configs
    config = wallaby_config(GRAPH).encode()
    yaml = {"Content-Type": "application/yaml"}
    st, _, _, _ = srv.request("POST", V2 + "/project-configs", raw_body=config, headers=yaml)
    c.eq("upload config", st, 201)
    st, _, _, _ = srv.request("POST", V2 + "/project-configs", raw_body=config, headers=yaml)
    c.eq("identical re-upload", st, 200)
    st, _, _, _ = srv.request("POST", V2 + "/project-configs", raw_body=config.replace(
        b"kind: extract_digits", b"kind: no_such_transform"), headers=yaml)
    c.eq("invalid config", st, 422)
    st, _, _, _ = srv.request("POST", V2 + "/project-configs", raw_body=b"{}", headers={"Content-Type": "image/png"})
    c.eq("config media type", st, 415)
    for p, want in [("/project-configs/wallaby_hires", 200), ("/project-configs/wallaby_hires/versions", 200),
                    ("/project-configs/nosuch", 404), ("/project-configs/nosuch/versions", 404),
                    ("/project-configs/wallaby_hires?as_of_position=1000000000", 200),
                    ("/project-configs/wallaby_hires?as_of_position=0", 400),
                    ("/projects", 200), ("/projects/contracts", 200), ("/projects/contracts/wallaby_hires", 200),
                    ("/projects/contracts/nosuch", 404), ("/projects/wallaby_hires/events?limit=2", 200)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)
    # The smallest valid WebAssembly module: the header alone.
    wasm = b"\0asm\x01\x00\x00\x00"
    st, mod, _, _ = srv.request("POST", V2 + "/project-configs/wallaby_hires/wasm", raw_body=wasm,
                                headers={"Content-Type": "application/wasm"})
    c.eq("upload a wasm module", st, 201)
    st, _, _, _ = srv.request("POST", V2 + "/project-configs/wallaby_hires/wasm", raw_body=b"nope",
                              headers={"Content-Type": "application/wasm"})
    c.eq("invalid wasm module", st, 400)
    for p, want in [(f"/project-configs/wallaby_hires/wasm/{mod['wasm_sha256']}", 200),
                    (f"/project-configs/wallaby_hires/wasm/{'0' * 64}", 404)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)

    # --- deployment profiles
    dim = create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    slurm = create_profile(srv, "sim-slurm", {
        "kind": "slurm_remote", "login_node": "hpc.example.org", "ssh_port": 22, "remote_user": "u",
        "account": "acc", "home_dir": "/home/u", "dlg_root": "/home/u/dlg", "log_dir": "/home/u/dlg/log",
        "resources": {"partition": "work", "nodes": 2}}, is_default=False)
    st, _, _, _ = req("POST", "/deployment-profiles", {"name": "sim-dim", "is_default": False, "deployment": {
        "kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8003}})
    c.eq("duplicate profile name", st, 409)
    st, _, _, _ = req("POST", "/deployment-profiles", {"name": "bad", "deployment": {"kind": "teleport"}})
    c.eq("invalid profile", st, 422)
    st, _, _, _ = req("PATCH", f"/deployment-profiles/{slurm['uuid']}", {"description": "Setonix-like"})
    c.eq("patch profile", st, 200)
    st, _, _, _ = req("POST", f"/deployment-profiles/{dim['uuid']}/default")
    c.eq("make default", st, 200)
    st, spare, _, _ = req("POST", "/deployment-profiles", {
        "name": "spare", "is_default": False,
        "deployment": {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8002}})
    c.eq("create spare profile", (st, spare.get("detail")), (201, None))
    st, _, _, _ = req("DELETE", f"/deployment-profiles/{spare['uuid']}")
    c.eq("delete profile", st, 204)
    for p, want in [("/deployment-profiles", 200), ("/deployment-profiles?project_module=wallaby_hires&limit=1", 200),
                    (f"/deployment-profiles/{dim['uuid']}", 200), (f"/deployment-profiles/{spare['uuid']}", 404),
                    ("/deployment-profiles/not-a-uuid", 400)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)

    # --- notification channels and alert rules (the webhook target's port is closed: the test
    #     delivery answers 200 with status failed)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed_port = sock.getsockname()[1]
    sock.close()
    st, ch, _, _ = req("POST", "/notification-channels", {
        "name": "ops", "kind": "webhook",
        "config": {"url": f"http://127.0.0.1:{closed_port}/hook/secret", "headers": {"X-Token": "t"}}})
    c.eq("create channel", st, 201)
    st, _, _, _ = req("POST", "/notification-channels", {"name": "bad", "kind": "sms", "config": {}})
    c.eq("invalid channel", st, 400)
    st, _, _, _ = req("PATCH", f"/notification-channels/{ch['uuid']}", {"enabled": True, "name": "ops-2"})
    c.eq("patch channel", st, 200)
    st, tested, _, _ = req("POST", f"/notification-channels/{ch['uuid']}/test")
    c.eq("test channel", (st, tested.get("status")), (200, "failed"))
    st, rule, _, _ = req("POST", "/alert-rules", {"name": "failures", "trigger_kind": "execution_terminal",
                                                  "trigger_config": {}, "channel_ids": [ch["uuid"]]})
    c.eq("create rule", st, 201)
    st, _, _, _ = req("PATCH", f"/alert-rules/{rule['uuid']}", {"cooldown_minutes": 5, "enabled": False})
    c.eq("patch rule", st, 200)
    for p, want in [("/notification-channels", 200), ("/alert-rules", 200), ("/alert-deliveries", 200),
                    (f"/alert-deliveries?status=failed&channel_id={ch['uuid']}", 200),
                    ("/alert-deliveries?status=lost", 400)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)
    st, _, _, _ = req("DELETE", f"/alert-rules/{rule['uuid']}")
    c.eq("delete rule", st, 204)
    st, _, _, _ = req("DELETE", f"/notification-channels/{ch['uuid']}")
    c.eq("delete channel", st, 204)
    st, _, _, _ = req("DELETE", f"/notification-channels/{ch['uuid']}")
    c.eq("delete a deleted channel", st, 404)

    # --- sources and discovery
    ids = ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    sid = ids["HIPASSJ1313-15"]
    st, bulk, _, _ = req("POST", "/sources/bulk", {"items": [{"project_module": "wallaby_hires",
                                                              "source_identifier": "J0000-00"}]})
    c.eq("bulk register", st, 200)
    st, _, _, _ = req("POST", "/sources/bulk", {"items": "no"})
    c.eq("bulk register refuses a non-array", st, 400)
    st, _, _, _ = req("POST", "/sources/discover", {"project_module": "wallaby_hires",
                                                    "source_identifier": "J0000-00"})
    c.eq("discover a disabled source", st, 409)
    st, _, _, _ = req("POST", "/sources/discover", {"project_module": "wallaby_hires",
                                                    "source_identifier": "J9999-99"})
    c.eq("discover an unknown source", st, 404)
    st, _, _, _ = req("PATCH", f"/sources/{sid}", {"stale_after_hours": 12})
    c.eq("patch source", st, 200)
    st, rows, hdrs, _ = req("GET", "/sources?project_module=wallaby_hires&limit=1&offset=1")
    c.eq("sources page", (st, len(rows), hdrs.get("X-Total-Count")), (200, 1, "3"))
    st, rows, hdrs, _ = req("GET", "/sources?limit=5&offset=50")
    c.eq("a page past the end still counts", (st, rows, hdrs.get("X-Total-Count")), (200, [], "3"))
    for p, want in [(f"/sources/{sid}", 200), (f"/sources/{sid}/status", 200), (f"/sources/{sid}/metadata", 200),
                    (f"/sources/{sid}/events?limit=2", 200), ("/sources?discovery_state=checked", 200),
                    (f"/sources/{sid}/history", 200), (f"/sources/{sid}?as_of_position=1000000000", 200),
                    (f"/sources/{uuid.uuid4()}/history", 404), (f"/sources/{sid}?as_of=soon", 400),
                    ("/sources?limit=0", 400), ("/sources?discovery_state=maybe", 400),
                    (f"/sources/{uuid.uuid4()}", 404), ("/sources/not-a-uuid", 400)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)
    st, _, _, _ = req("DELETE", f"/sources/{bulk['items'][0]['uuid']}")
    c.eq("delete source", st, 204)
    st, _, _, _ = req("POST", "/sources", {"project_module": "wallaby_hires"})
    c.eq("register without an identifier", st, 400)
    st, _, _, _ = srv.request("POST", V2 + "/sources", raw_body=b"{}", headers={"Content-Type": "text/plain"})
    c.eq("register as text", st, 415)

    # --- an execution on the simulated DALiuGE backend, to completion
    base = {"project_module": "wallaby_hires", "archive_name": "casda",
            "sources": [{"source_identifier": "HIPASSJ1313-15"}]}
    st, _, _, _ = req("POST", "/executions/prepare", base)
    c.eq("prepare", st, 200)
    st, _, _, _ = req("POST", "/graphs/prepare", {"project_module": "wallaby_hires",
                                                  "source_identifiers": ["HIPASSJ1313-15"]})
    c.eq("graph preview", st, 200)
    st, _, _, _ = req("POST", "/graphs/prepare", {"project_module": "wallaby_hires", "source_identifiers": []})
    c.eq("graph preview refused", st, 400)
    key = {"Idempotency-Key": "contract-" + uuid.uuid4().hex}
    st, ex, _, _ = req("POST", "/executions", base, headers=key)
    c.eq("create execution", st, 201)
    eid = ex["uuid"]
    st, _, _, _ = req("POST", "/executions", base, headers=key)
    c.eq("idempotent replay", st, 200)
    st, _, _, _ = req("POST", "/executions", dict(base, archive_name="vizier"), headers=key)
    c.eq("same key, another request", st, 409)
    st, _, _, _ = req("POST", "/executions", dict(base, archive_name="alma"))
    c.eq("archive not required by the project", st, 400)
    st, _, _, _ = req("POST", f"/executions/{eid}/execute", {"do_stage": False})
    c.eq("execute", st, 202)
    wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"))
    for p in ("", "/status", "/summary", "/history", "/ledger-snapshot", "/events?limit=3", "/observations", "/artifacts",
              "/artifacts/manifest", f"/diff/{eid}", "?as_of_position=1000000000"):
        st, _, _, _ = req("GET", f"/executions/{eid}{p}")
        c.eq(f"GET execution{p}", st, 200)
    for p, want in [(f"/executions/{eid}/artifacts/nosuch", 404), (f"/executions/{uuid.uuid4()}", 404),
                    (f"/executions/{uuid.uuid4()}/events", 404), ("/executions?status=nope", 400),
                    ("/executions?project_module=wallaby_hires&items_per_page=1", 200),
                    (f"/sources/{sid}/executions", 200)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)
    st, _, _, _ = req("PATCH", f"/executions/{eid}", {"status": "cancelled"})
    c.eq("cancel a finished execution", st, 409)
    st, other, _, _ = req("POST", "/executions", dict(base, sources=[{"source_identifier": "HIPASSJ1318-21"}]))
    c.eq("create a second execution", st, 201)
    st, _, _, _ = req("PATCH", f"/executions/{other['uuid']}", {"status": "cancelled", "reason": "contract test"})
    c.true("cancel a pending execution", st in (200, 202))
    st, _, _, _ = req("PATCH", f"/executions/{eid}", {"status": "running"})
    c.eq("patch other than cancel", st, 400)
    st, _, _, _ = req("POST", f"/executions/{eid}/retry", {"reason": "again"})
    c.eq("retry a completed execution", st, 409)
    st, _, _, _ = req("POST", f"/executions/{eid}/execute", {})
    c.eq("execute a finished execution", st, 409)
    st, _, _, _ = req("POST", f"/executions/{eid}/outputs/verify", {"schema": "x"})
    c.true("verify outputs refused", st in (400, 409))
    st, _, _, _ = req("POST", f"/executions/{eid}/submission/abandon", {
        "reason": "r", "expected_submission_state": "uncertain", "expected_daliuge_session_id": "s",
        "expected_submission_deadline_at": "2020-01-01T00:00:00Z", "acknowledge_external_job_may_exist": True})
    c.true("abandon refused", st in (400, 409))

    # --- jobs and the event feed
    st, jobs, hdrs, _ = req("GET", "/jobs?limit=2")
    c.eq("jobs page", (st, "X-Total-Count" in hdrs), (200, True))
    st, job, _, _ = req("POST", "/jobs", {"kind": "discover_source", "payload": {
        "project_module": "wallaby_hires", "source_identifier": "HIPASSJ1318-21"}})
    c.eq(f"enqueue discovery ({job})", st, 202)
    st, _, _, _ = req("GET", f"/jobs/{job.get('id', 'none')}")
    c.eq("get job", st, 200)
    st, _, _, _ = req("POST", "/jobs", {"kind": "bake"})
    c.eq("unknown job kind", st, 400)
    st, _, _, _ = req("POST", f"/jobs/{job['id']}/requeue", {})
    c.true("requeue a job that did not fail", st in (202, 409))
    st, _, _, _ = req("GET", f"/jobs/{uuid.uuid4()}")
    c.eq("unknown job", st, 404)
    for p, want in [("/jobs?status=queued", 200), ("/events?limit=5", 200), ("/events?after=999999999", 400)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)
    st, _, _, _ = req("GET", "/sources", auth=False)
    c.eq("a token is required", st, 401)
    create_profile(srv, "contract-slurm", {"kind": "slurm_remote", "login_node": "127.0.0.1", "account": "acct",
                                           "home_dir": "/home/x", "log_dir": "/home/x/logs",
                                           "dlg_root": "/home/x/dlg"}, is_default=False)
    st, sched, _, _ = req("GET", "/scheduler/status?profile=contract-slurm")
    c.eq("scheduler status of a Slurm profile (simulated: nothing asked)", (st, sched.get("connectivity", 0)), (200, None))
    for p, want in [("/slurm/credentials", 200), ("/slurm/credentials/slot-a", 200),
                    ("/slurm/credentials/none", 404), ("/overview", 200), ("/diagnostics", 200),
                    ("/diagnostics?profile=", 400),
                    ("/scheduler/jobs?include_finished=true", 200), ("/daliuge/inspect", 400),
                    ("/daliuge/sessions?profile=nope", 404)]:
        st, _, _, _ = req("GET", p)
        c.eq(f"GET {p}", st, want)
    # --- workers: this node by its heartbeat, one registered through the API, drain and resume
    st, workers, _, _ = req("GET", "/workers")
    node_id = workers["items"][0]["id"]
    st, view, _, _ = req("GET", "/cluster")
    c.eq("GET /cluster on a single node", (st, view["mode"]), (200, "single"))
    st, _, _, _ = req("POST", "/workers", {"worker_id": "contract-ext", "host": "h", "process_id": 1,
                                           "labels": {"site": "x"}})
    c.eq("register a worker", st, 201)
    for m, p, body, want in [("POST", "/workers", {"host": "h"}, 201), ("POST", "/workers", {"pool": "x"}, 400),
                             ("POST", "/workers/contract-ext/heartbeat", None, 200),
                             ("POST", f"/workers/{node_id}/heartbeat", None, 409),
                             ("GET", "/workers/contract-ext", None, 200), ("GET", "/workers/nobody", None, 404),
                             ("GET", "/workers/pools", None, 200), ("GET", "/workers/leases", None, 200),
                             ("GET", "/workers?status=draining", None, 200),
                             ("POST", "/workers/contract-ext/drain", {"reason": "contract"}, 200),
                             ("POST", "/workers/contract-ext/resume", None, 200),
                             ("POST", "/workers/nobody/drain", None, 404),
                             ("POST", "/provenance/purge", {"before": "2000-01-01T00:00:00Z"}, 200),
                             ("POST", "/provenance/purge", {"before": "soon"}, 400)]:
        st, _, _, _ = req(m, p, body)
        c.eq(f"{m} {p}", st, want)
    st, users, _, _ = req("GET", "/users")
    c.eq("users listed", (st, any(u["is_superuser"] for u in users)), (200, True))
    # The event stream never ends: its head is recorded, then the connection is dropped.
    st, tk, _, _ = req("POST", "/events/stream-tickets")
    c.eq("stream ticket", st, 201)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(f"GET {V2}/events/stream?after=0&ticket={tk['ticket']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    s.close()
    first, *fields = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    shdrs = dict(f.split(": ", 1) for f in fields)
    records.append({"method": "GET", "path": V2 + "/events/stream", "template": "/api/v2/events/stream",
                    "status": int(first.split()[1]), "content_type": shdrs.get("Content-Type", ""),
                    "headers": shdrs, "body": None, "raw_length": 0})

    # --- every recorded response against the document
    with tempfile.TemporaryDirectory() as tmp:
        doc_path, rec_path = os.path.join(tmp, "openapi.json"), os.path.join(tmp, "records.json")
        with open(doc_path, "w") as f:
            f.write(export.stdout)
        with open(rec_path, "w") as f:
            json.dump(records, f)
        v = subprocess.run(["node", os.path.join(NODE_DIR, "validate_responses.mjs"), doc_path, rec_path],
                           capture_output=True, text=True)
        print(v.stdout[-6000:], v.stderr[-2000:])
        c.eq("every response validates against its documented schema", v.returncode, 0)

    # --- coverage: every operation answered, and all but a few answered a success
    answered = {(r["method"], r["template"]) for r in records}
    succeeded = {(r["method"], r["template"]) for r in records if 200 <= r["status"] < 400}
    for template, item in doc["paths"].items():
        for method in item:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            key = (method.upper(), template)
            c.true(f"{key} answered in the scenario", key in answered)
            if key not in NO_SUCCESS_EXPECTED:
                c.true(f"{key} succeeded in the scenario", key in succeeded)
    print(f"recorded {len(records)} responses of {len(answered)} operations")
finally:
    srv.stop()
    if c.failed:
        print("\n".join(list(srv.log)[-40:]))
c.finish()
