"""`beampipe events export` (issue #18, portable history): the whole store as JSON lines in
exactly the /api/v2/events feed's shape, written complete or not at all, and with --artifacts
every content-addressed artifact under its digest with an index."""
import hashlib
import json
import os
import subprocess
import tempfile

from harness import (Checks, Server, create_profile, fresh_database, ready_sources, test_graph, upload_config,
                     wait_execution, wallaby_config)

V2 = "/api/v2"
BIN = os.environ["BEAMPIPE_BIN"]
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-export-")
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def export(*args):
    env = dict(os.environ, DATABASE_URL=db)
    return subprocess.run([BIN, "events", "export", *args], env=env, capture_output=True, text=True, timeout=120)


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "sim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute", {"do_stage": False, "do_submit": False})
    wait_execution(srv, ex["uuid"], lambda r: r["status"] == "not_submitted" and r["sources_finalized"])

    out, arts = os.path.join(tmp, "store.jsonl"), os.path.join(tmp, "artifacts")
    p = export("-o", out, "--artifacts", arts)
    c.eq("export succeeds", (p.returncode, p.stderr.startswith("exported ")), (0, True))
    with open(out) as f:
        exported = [json.loads(line) for line in f]
    feed, after = [], 0
    while True:
        page = srv.request("GET", f"{V2}/events?limit=1000&after={after}")[1]
        feed += page["events"]
        if len(page["events"]) < 1000:
            break
        after = page["next_after"]
    feed = [e for e in feed if e["position"] <= exported[-1]["position"]]
    c.eq("exactly the feed, event for event", exported, feed)
    c.eq("the feed's fields", sorted(exported[0]), sorted(["position", "event_id", "stream_id", "stream_type",
                                                            "stream_version", "type", "schema_version", "data",
                                                            "metadata", "recorded_at"]))
    c.true("no partial file left", not os.path.exists(out + ".partial"))

    with open(os.path.join(arts, "index.jsonl")) as f:
        index = [json.loads(line) for line in f]
    named = {a["sha256"] for e in exported for a in e["data"].get("artifacts", [])}
    c.true(f"every artifact an event names is exported ({len(named)})",
           named and named <= {i["sha256"] for i in index})
    ok = True
    for i in index:
        with open(os.path.join(arts, i["sha256"]), "rb") as f:
            blob = f.read()
        ok = ok and hashlib.sha256(blob).hexdigest() == i["sha256"] and len(blob) == i["size_bytes"]
    c.true("each artifact's bytes match its digest and size", ok and bool(index))

    p = export("-o", "/proc/beampipe-cannot-write/x.jsonl")
    c.true("an unwritable target fails with a message", p.returncode != 0 and "cannot write" in p.stderr)
finally:
    srv.stop()
c.finish()
