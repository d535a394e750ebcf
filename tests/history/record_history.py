"""Records a varied history with the current build, for issue #18 (typed events): whatever the
event schema becomes, this history must import into later builds and give the same answers.

Run once, before the event types change (it is a fixture generator, not a test):

    BEAMPIPE_TEST_PG_DIR=build/test-pg BEAMPIPE_BIN=build/beampipe \
        /usr/bin/python3 tests/history/record_history.py tests/history/v1

(the private test cluster must be up: scripts/test-pg up build/test-pg). It drives one
beampipe through the API, on the simulated archive and backends:

- project configs: four revisions of wallaby_hires (the reference graph from a file), the
  third with a broken graph;
- deployment profiles: a default, a second one patched, a third created and deleted;
- sign-in sessions (the harness's superuser);
- sources: two registered, discovered, one disabled and re-enabled;
- executions ending not_submitted (dry run), completed, cancelled (confirmed by the backend),
  failed (broken graph) and retried (failing again), and one created idempotently twice;
- alerts: a webhook channel to a closed port, an execution_terminal rule that fires for the
  failed run, its delivery attempts;
- jobs: the discovery and execute jobs all of the above made.

It writes into the target folder:
  events.jsonl   the whole store (`beampipe events export`: the /api/v2/events feed's shape)
  artifacts/     index.jsonl and every stored artifact, gzip-compressed, as <sha256>.gz
  answers.json   {"GET <path>": body} for the read routes over that history
"""
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "blackbox"))
from harness import (Server, create_profile, fresh_database, ready_sources, test_graph,  # noqa: E402
                     upload_config, wait_execution, wallaby_config)

V2 = "/api/v2"
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_SIMULATED_RUN_MS": "3000", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_EXECUTION_SCAN_MS": "100", "BEAMPIPE_ALERT_EVALUATOR_INTERVAL_SECONDS": "1",
       "BEAMPIPE_ALERT_DELIVERY_BACKOFF_SECONDS": "1", "BEAMPIPE_SCHEDULER_ENABLED": "true",
       "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "5"}
TERMINAL = ("completed", "failed", "cancelled", "not_submitted")


def config(folder, revision_note):
    """The reference WALLABY config with the test graph from a file (offline)."""
    return wallaby_config(test_graph(folder)) + f"# {revision_note}\n"


def broken_graph_config(folder):
    path = os.path.join(folder, "broken.graph")
    with open(path, "w") as f:
        f.write("{not a graph")
    return wallaby_config(path) + "# revision 3: a broken graph\n"


def main(out):
    os.makedirs(os.path.join(out, "artifacts"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="beampipe-history-")
    srv = Server(conninfo=fresh_database(), extra_env=ENV)
    srv.wait_ready()

    def post(path, body, **kw):
        return srv.request("POST", V2 + path, body, **kw)

    def execute(sources, body, key=None):
        headers = {"Idempotency-Key": key} if key else None
        req = {"project_module": "wallaby_hires", "archive_name": "casda",
               "sources": [{"source_identifier": s} for s in sources]}
        st, ex, _, _ = srv.request("POST", V2 + "/executions", req, headers=headers)
        assert st in (200, 201), ex
        if body is not None:
            st, b, _, _ = post(f"/executions/{ex['uuid']}/execute", body)
            assert st == 202, b
        return ex["uuid"]

    try:
        upload_config(srv, config(tmp, "revision 1"))
        upload_config(srv, config(tmp, "revision 2: a comment changes the spec digest"))
        create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
        second = create_profile(srv, "sim-dim-2", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                                   "deploy_port": 8002}, is_default=False)
        srv.request("PATCH", f"{V2}/deployment-profiles/{second['uuid']}", {"max_concurrent_executions": 3},
                    headers={"Content-Type": "application/merge-patch+json"})
        gone = create_profile(srv, "short-lived", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                                   "deploy_port": 8003}, is_default=False)
        srv.request("DELETE", f"{V2}/deployment-profiles/{gone['uuid']}")

        ids = ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
        uid = ids["HIPASSJ1318-21"]
        srv.request("PATCH", f"{V2}/sources/{uid}", {"enabled": False})
        srv.request("PATCH", f"{V2}/sources/{uid}", {"enabled": True})

        # A closed port: deliveries are attempted, retried and recorded, never sent.
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        st, ch, _, _ = post("/notification-channels", {"name": "ops", "kind": "webhook",
                                                       "config": {"url": f"http://127.0.0.1:{port}/hook"}})
        post("/alert-rules", {"name": "failed runs", "trigger_kind": "execution_terminal", "trigger_config": {},
                              "channel_ids": [ch["uuid"]]})

        runs = {}
        runs["dry_run"] = execute(["HIPASSJ1313-15"], {"do_stage": False, "do_submit": False})
        wait_execution(srv, runs["dry_run"], lambda r: r["status"] in TERMINAL and r["sources_finalized"])
        runs["completed"] = execute(["HIPASSJ1318-21"], {"do_stage": False}, key="history-completed")
        assert execute(["HIPASSJ1318-21"], None, key="history-completed") == runs["completed"]
        row = wait_execution(srv, runs["completed"], lambda r: r["status"] in TERMINAL and r["sources_finalized"],
                             timeout=120)
        assert row["status"] == "completed", row
        runs["cancelled"] = execute(["HIPASSJ1313-15"], {"do_stage": False})
        wait_execution(srv, runs["cancelled"], lambda r: r["status"] == "running")
        srv.request("PATCH", f"{V2}/executions/{runs['cancelled']}", {"status": "cancelled", "reason": "recorded"})
        wait_execution(srv, runs["cancelled"], lambda r: r["status"] in TERMINAL and r["sources_finalized"],
                       timeout=120)

        upload_config(srv, broken_graph_config(tmp))
        runs["failed_retried"] = execute(["HIPASSJ1318-21"], {"do_stage": False})
        wait_execution(srv, runs["failed_retried"], lambda r: r["status"] == "failed" and r["sources_finalized"])
        st, body, _, _ = post(f"/executions/{runs['failed_retried']}/retry", {"reason": "recorded retry"})
        assert st in (200, 202), body
        wait_execution(srv, runs["failed_retried"],
                       lambda r: r["status"] == "failed" and r["retry_count"] == 1 and r["sources_finalized"],
                       timeout=120)
        upload_config(srv, config(tmp, "revision 4: the working config again"))
        # Let the alert worker attempt its deliveries a few times.
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = srv.request("GET", V2 + "/alert-deliveries")[1]
            rows = rows.get("items", rows) if isinstance(rows, dict) else rows
            if rows and all(d.get("attempts", 0) >= 2 for d in rows):
                break
            time.sleep(0.5)

        # --- the store, as `beampipe events export` writes it (the feed's shape)
        exported = os.path.join(tmp, "export")
        p = subprocess.run([os.environ["BEAMPIPE_BIN"], "events", "export", "-o", os.path.join(out, "events.jsonl"),
                            "--artifacts", exported], env=dict(os.environ, DATABASE_URL=srv.conninfo),
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(out, "events.jsonl")) as f:
            events = f.readlines()
        shutil.copy(os.path.join(exported, "index.jsonl"), os.path.join(out, "artifacts", "index.jsonl"))
        with open(os.path.join(exported, "index.jsonl")) as f:
            for line in f:
                sha = json.loads(line)["sha256"]
                with open(os.path.join(exported, sha), "rb") as src, \
                        gzip.open(os.path.join(out, "artifacts", sha + ".gz"), "wb") as dst:
                    dst.write(src.read())

        # --- the read routes over it
        answers = {}

        def get(path):
            st, body, _, _ = srv.request("GET", V2 + path)
            answers["GET " + path] = {"status": st, "body": body}
            return body

        for path in ["/sources", "/executions", "/projects", "/project-configs/wallaby_hires",
                     "/project-configs/wallaby_hires/versions", "/deployment-profiles",
                     "/notification-channels", "/alert-rules", "/alert-deliveries", "/jobs", "/user/me"]:
            get(path)
        for uuid in ids.values():
            get(f"/sources/{uuid}")
        for name, eid in runs.items():
            get(f"/executions/{eid}")
            for tail in ["events", "observations", "summary", "ledger-snapshot", "status"]:
                get(f"/executions/{eid}/{tail}")
            get(f"/executions/{eid}/artifacts")
        with open(os.path.join(out, "answers.json"), "w") as f:
            json.dump({"runs": runs, "sources": ids, "answers": answers}, f, indent=1, sort_keys=True,
                      ensure_ascii=False)
        print(f"recorded {len(events)} events, {len(answers)} answers into {out}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "v1"))
