"""Issue #16, critical: one request or one event must never stop the control plane.

The requests that once appended an event no projection could read (and so stopped every read
model, /login and /ready for good) are refused with a 400/422 naming the field, and store
nothing. An event written around the store (a poison event straight into the events table)
becomes a dead letter for the projections that cannot apply it, shown by /ready, the metric and
`beampipe projections dead-letters`, and retried after a fix. A write whose read model is held
back answers 503 at once naming it, and SIGTERM is not held up by the wait.
"""
import json
import os
import subprocess
import time

from harness import (REFERENCE, Checks, Server, V2, create_profile, fresh_database, ready_sources,
                     upload_config, wait_for, wallaby_config)

PSQL = "/usr/lib/postgresql/15/bin/psql"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_USE_REAL_BACKENDS": "false", "BEAMPIPE_SIMULATED_RUN_MS": "60000",
       "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
c = Checks()


def event_count(srv):
    st, body, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    return len(body["events"])


def still_serving(srv, what):
    """/ready answers 200 and a normal write still works."""
    st, _, _, _ = srv.request("GET", V2 + "/ready")
    c.eq(f"after {what}: ready", st, 200)
    st, body, _, _ = srv.request("POST", V2 + "/sources", {
        "project_module": "wallaby_hires", "source_identifier": "canary-" + str(time.time_ns()),
        "enabled": False})
    c.true(f"after {what}: a normal write succeeds ({st})", st in (200, 201))


def refused(srv, what, method, path, body=None, raw=None, headers=None, status=400, field=None):
    before = event_count(srv)
    st, answer, _, text = srv.request(method, V2 + path, body, raw_body=raw, headers=headers)
    c.eq(f"{what}: refused", st, status)
    if field is not None:
        c.eq(f"{what}: names the field", (answer or {}).get("field"), field)
    c.true(f"{what}: answer is small", len(text) < 20000)
    c.eq(f"{what}: nothing stored", event_count(srv), before)
    still_serving(srv, what)
    return answer


def psql(conninfo, sql):
    return subprocess.run([PSQL, conninfo, "-qAtc", sql], check=True, capture_output=True, text=True).stdout


db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
try:
    srv.wait_ready()
    upload_config(srv, wallaby_config(GRAPH))
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "dim", "deploy_port": 8001},
                   max_concurrent_executions=5)
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda",
        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("an execution to cancel", st, 201)
    eid = ex["uuid"]

    # --- the three requests of the audit
    refused(srv, "cancel reason with NUL", "PATCH", f"/executions/{eid}",
            {"status": "cancelled", "reason": "poison\u0000here"}, field="reason")
    deep = "x"
    for _ in range(30):
        deep = [deep]
    refused(srv, "cancel reason as 30 nested arrays", "PATCH", f"/executions/{eid}",
            {"status": "cancelled", "reason": deep}, field="reason")
    deeper = "x"
    for _ in range(40):
        deeper = [deeper]
    refused(srv, "a body nested 41 levels", "PATCH", f"/executions/{eid}",
            {"status": "cancelled", "reason": deeper}, field="reason" + "[0]" * 31)
    refused(srv, "an SBID with NUL", "POST", "/executions",
            {"project_module": "wallaby_hires", "archive_name": "casda",
             "sources": [{"source_identifier": "HIPASSJ1313-15", "sbids": ["22211", "x\u0000y"]}]},
            field="sources[0].sbids[1]")
    refused(srv, "a control character in a source identifier", "POST", "/sources",
            {"project_module": "wallaby_hires", "source_identifier": "bell\u0007", "enabled": True},
            field="source_identifier")
    refused(srv, "invalid UTF-8 in a body", "POST", "/sources",
            raw=b'{"project_module":"wallaby_hires","source_identifier":"\xff\xfe"}',
            headers={"Content-Type": "application/json"}, field="body")

    # --- configs: the config decoder applies the same rule
    text = wallaby_config(GRAPH).replace(
        "description: WALLABY HiRes CASDA pipeline reference config", 'description: "nul\\0here"')
    ans = refused(srv, "a config description with NUL", "POST", "/project-configs", raw=text.encode(),
                  headers={"Content-Type": "application/yaml"}, status=422)
    c.true("the diagnostic names metadata.description",
           any(e["path"] == "metadata.description" and e["code"] == "invalid_text" for e in ans["errors"]))
    ans = refused(srv, "a YAML alias cycle", "POST", "/project-configs", raw=b"&a [*a, *a, *a, *a]",
                  headers={"Content-Type": "application/yaml"}, status=422)
    c.true("an alias cycle costs few diagnostics", 1 <= len(ans["errors"]) <= 100)

    # --- a cancel with a proper reason still works
    st, row, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled", "reason": "done\nfor now"})
    c.eq("a clean reason is taken", (st, row.get("cancel_reason")), (200, "done\nfor now"))

    # --- a poison event written around the store: dead-lettered, the rest goes on
    uuid = "7d1f0b2e-54d4-5d4c-9d43-6f7e3a2b1c0d"
    data = json.dumps({"uuid": uuid, "project_module": "wallaby_hires", "source_identifier": "PLACEHOLDER",
                       "enabled": True}).replace("PLACEHOLDER", "poison\\u0000")
    position = int(psql(db, "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, "
                            f"data, metadata) VALUES (gen_random_uuid(), 'source-{uuid}', 'source', 1, "
                            f"'SourceRegistered', '{data}'::json, '{{}}') RETURNING position").split()[0])
    ready = wait_for("the dead letter in /ready",
                     lambda: (lambda b: b if b and b["projections"].get("dead_letters_total") else None)(
                         srv.request("GET", V2 + "/ready")[1]), timeout=30)
    c.true("the source registry dead-lettered it", ready["projections"]["dead_letters"].get("source_registry", 0) >= 1)
    still_serving(srv, "a poison event")
    st, _, _, metrics = srv.request("GET", V2 + "/metrics")
    c.true("the metric counts it", 'beampipe_projection_dead_letters{projection="source_registry"} 1' in metrics)
    env = dict(os.environ, DATABASE_URL=db)
    out = subprocess.run([os.environ["BEAMPIPE_BIN"], "projections", "dead-letters", "--json"], env=env,
                         capture_output=True, text=True)
    letters = json.loads(out.stdout)
    c.true("the CLI lists it", any(d["position"] == position and d["projection"] == "source_registry"
                                  for d in letters))
    retry = subprocess.run([os.environ["BEAMPIPE_BIN"], "projections", "dead-letters", "--retry", str(position)],
                           env=env, capture_output=True, text=True)
    c.eq("a retry that still fails exits 1", retry.returncode, 1)
    psql(db, f"UPDATE events SET data = replace(data::text, 'poison\\u0000', 'mended')::json WHERE position = {position}")
    retry = subprocess.run([os.environ["BEAMPIPE_BIN"], "projections", "dead-letters", "--retry", str(position)],
                           env=env, capture_output=True, text=True)
    c.eq("a retry after the fix applies it", retry.returncode, 0)
    st, row, _, _ = srv.request("GET", f"{V2}/sources/{uuid}")
    c.eq("the mended event is in the read model", (st, row and row["source_identifier"]), (200, "mended"))

    # --- a write whose read model is held back by an open transaction answers at once
    holder = subprocess.Popen([PSQL, db, "-qAt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN;\nSELECT pg_current_xact_id();\n")
    holder.stdin.flush()
    holder.stdout.readline()  # the xid: the transaction holds the read fence from now on
    st, body, _, _ = srv.request("POST", V2 + "/sources", {
        "project_module": "wallaby_hires", "source_identifier": "held", "enabled": False})
    c.eq("a held-back write answers 503 naming the stall", (st, body.get("code")), (503, "projection_stalled"))
    c.true("the answer names a read model", "source_registry" in body.get("detail", ""))
    holder.stdin.write("COMMIT;\n")
    holder.stdin.close()
    holder.wait(timeout=30)
    wait_for("the read models to resume", lambda: srv.request("GET", V2 + "/ready")[0] == 200, timeout=30)
    still_serving(srv, "the fence lifted")
finally:
    rc = srv.stop()
c.eq("clean stop", rc, 0)

# --- SIGTERM while the scheduler waits on a held-back read model ends promptly
db2 = fresh_database()
srv = Server(conninfo=db2, extra_env=dict(ENV, BEAMPIPE_SCHEDULER_ENABLED="true",
                                          BEAMPIPE_SCHEDULER_INTERVAL_SECONDS="1"))
holder = None
try:
    srv.wait_ready()
    upload_config(srv, wallaby_config(GRAPH))
    for i in range(3):
        srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                              "source_identifier": f"HIPASSJ13{i}", "enabled": True})
    holder = subprocess.Popen([PSQL, db2, "-qAt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN;\nSELECT pg_current_xact_id();\n")
    holder.stdin.flush()
    holder.stdout.readline()
    wait_for("the stall to show in /ready",
             lambda: "failure" in (srv.request("GET", V2 + "/ready")[1] or {}).get("projections", {}), timeout=30)
finally:
    rc = srv.stop()  # the harness kills after 30 s; a clean exit code means SIGTERM was enough
    if holder:
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(timeout=30)
c.eq("SIGTERM with a held-back read model stops cleanly", rc, 0)
c.finish()
