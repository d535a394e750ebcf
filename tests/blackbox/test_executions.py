"""Executions end to end on the simulated DALiuGE and Slurm backends (the offline default):
admission and its refusals, Idempotency-Key, the dry run against golden files, submission,
polling to completion, cancel, retry, source finalisation and crash recovery between the
submission and its receipt."""
import hashlib
import json
import os
import signal
import subprocess

from harness import (REFERENCE, Checks, Server, create_profile, fresh_database, ready_sources, upload_config,
                     wait_execution, wallaby_config)

V2 = "/api/v2"
PSQL = "/usr/lib/postgresql/15/bin/psql"
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "false", "BEAMPIPE_SIMULATED_RUN_MS": "1500",
       "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200", "BEAMPIPE_SLURM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
c.eq("/ready names the execution backends", srv.wait_ready()["execution_backends"], "simulated")


def post(path, body, headers=None):
    return srv.request("POST", V2 + path, body, headers=headers)


def events_of(eid):
    return [e["event_type"] for e in srv.request("GET", f"{V2}/executions/{eid}/events?limit=500")[1]]


def normalised_graph(g):
    """The injected graph configuration has a per-execution id and a timestamp."""
    g = json.loads(json.dumps(g))
    cid = g.get("activeGraphConfigId")
    if cid:
        g["activeGraphConfigId"] = "<config-id>"
        conf = g["graphConfigurations"].pop(cid)
        conf["id"] = "<config-id>"
        conf["modelData"]["lastModifiedDatetime"] = 0
        g["graphConfigurations"]["<config-id>"] = conf
    return g


def golden(name, got):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("BEAMPIPE_UPDATE_GOLDEN") == "1":
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
    with open(path) as f:
        return json.load(f)


try:
    upload_config(srv, wallaby_config(GRAPH))
    ids = ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    src = {"source_identifier": "HIPASSJ1313-15"}
    base = {"project_module": "wallaby_hires", "archive_name": "casda", "sources": [src]}

    # --- admission refusals: each names its field and stores nothing
    st, before, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    st, body, _, _ = post("/executions", base)
    c.eq("no default profile", (st, body["code"], body["field"]), (400, "no_default_profile", "deployment_profile_name"))
    st, body, _, _ = post("/executions", dict(base, archive_name="alma"))
    c.eq("archive must be required by the project", (st, body["field"]), (400, "archive_name"))
    st, body, _, _ = post("/executions", dict(base, sources=[{"source_identifier": "HIPASSJ9999-99"}]))
    c.eq("unregistered source", (st, body["code"], body["field"]), (400, "source_not_ready", "sources[0]"))
    st, body, _, _ = post("/executions", dict(base, sources=[{"source_identifier": "HIPASSJ1313-15", "sbids": ["1"]}]))
    c.eq("unknown SBID", (st, body["field"]), (400, "sources[0]"))
    st, body, _, _ = post("/executions", dict(base, sources=[src, src]))
    c.eq("max_sources_per_execution (1 for WALLABY)", (st, body["code"]), (400, "too_many_sources"))
    st, body, _, _ = post("/executions", dict(base, deployment_profile_id="x", deployment_profile_name="y"))
    c.eq("both profile selectors", (st, body["field"]), (400, "deployment_profile_name"))
    st, after, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    c.eq("refused creates stored nothing", len(after["events"]), len(before["events"]))

    dim = create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                         max_concurrent_executions=1)
    slurm = create_profile(srv, "sim-slurm", {
        "kind": "slurm_remote", "login_node": "hpc.example.org", "ssh_port": 22, "remote_user": "u",
        "account": "acc", "home_dir": "/home/u", "dlg_root": "/home/u/dlg", "log_dir": "/home/u/dlg/log"},
        is_default=False, translation={"algo": "metis", "num_par": 1, "num_islands": 1})

    # --- dry run: manifest and patched graph equal the golden files
    st, ex, _, _ = post("/executions", base)
    c.eq("created", (st, ex["status"], ex["deployment_profile_id"], ex["submission_state"]),
         (201, "pending", dim["uuid"], "not_started"))
    c.eq("profile snapshot pinned", (ex["deployment_profile_snapshot"]["name"],
                                     ex["deployment_profile_snapshot"]["spec_sha256"]), ("sim-dim", dim["spec_sha256"]))
    c.true("discovery signature pinned", len(ex["discovery_signature"] or "") == 64)
    st, body, _, _ = post("/executions", base)
    c.eq("profile concurrency limit", (st, body["code"]), (409, "profile_concurrency_limit"))
    eid = ex["uuid"]
    st, acc, _, _ = post(f"/executions/{eid}/execute", {"do_stage": False, "do_submit": False})
    c.eq("execute accepted", (st, acc["status"], acc["do_submit"]), (202, "accepted", False))
    st, acc2, _, _ = post(f"/executions/{eid}/execute", {"do_stage": False, "do_submit": False})
    c.eq("same execute again is the same job (or refused once started)",
         st == 202 and acc2["job_id"] == acc["job_id"] or (st == 409 and acc2["code"] == "execution_not_pending"), True)
    row = wait_execution(srv, eid, lambda r: r["status"] == "not_submitted" and r["sources_finalized"])
    c.eq("dry run ends not_submitted", (row["status"], row["submission_state"], row["scheduler_job_id"]),
         ("not_submitted", "not_started", None))
    st, arts, _, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts")
    c.eq("artifacts of a dry run", sorted(a["kind"] for a in arts), ["manifest", "patched_graph", "source_graph"])
    st, manifest, hdrs, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts/manifest")
    c.eq("manifest equals golden", manifest, golden("dry_run_manifest.json", manifest))
    c.eq("manifest digest", hdrs.get("X-Content-SHA256"), row["manifest_sha256"])
    st, patched, _, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts/patched_graph")
    c.eq("patched graph equals golden", normalised_graph(patched),
         golden("dry_run_patched_graph.json", normalised_graph(patched)))
    st, source_graph, _, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts/source_graph")
    with open(GRAPH) as f:
        c.eq("source graph is the file as read", source_graph, json.load(f))
    # The patched graph is stored as its source graph plus what the build set (issue #24), and
    # read back as its own bytes under its digest.
    st, _, hdrs, raw = srv.request("GET", f"{V2}/executions/{eid}/artifacts/patched_graph")
    c.eq("patched graph bytes match their digest",
         (hdrs.get("X-Content-SHA256"), hashlib.sha256(raw.encode()).hexdigest()),
         (row["patched_graph_sha256"], row["patched_graph_sha256"]))
    stored = subprocess.run([PSQL, db, "-qAt", "-c",
                             "SELECT base_sha256 IS NOT NULL, octet_length(content) * 20 < size_bytes "
                             f"FROM artifact_blobs WHERE sha256 = '{row['patched_graph_sha256']}'"],
                            check=True, capture_output=True, text=True).stdout.strip()
    c.eq("patched graph stored as a delta of its source graph", stored, "t|t")
    c.eq("dry run events", [e for e in events_of(eid) if e.startswith("execution.")][:3],
         ["execution.created", "execution.running", "execution.not_submitted"])
    st, s1, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1313-15']}")
    c.eq("dry run consumed the signature", (s1["workflow_run_pending"], s1["last_executed_discovery_signature"]),
         (False, s1["discovery_signature"]))
    st, body, _, _ = post(f"/executions/{eid}/execute", {"do_stage": False, "do_submit": False})
    c.eq("execute on a terminal execution", (st, body["code"]), (409, "execution_not_pending"))
    st, body, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled"})
    c.eq("cancel of a terminal execution", (st, body["code"]), (409, "execution_terminal"))
    st, body, _, _ = post(f"/executions/{eid}/retry", {"reason": "again"})
    c.eq("retry of a run that did not fail", (st, body["code"]), (409, "execution_not_failed"))

    # --- Idempotency-Key: same request → same execution; other request → 409
    key = {"Idempotency-Key": "run-0001"}
    st, a, _, _ = post("/executions", base, headers=key)
    st2, b, _, _ = post("/executions", base, headers=key)
    c.eq("idempotent replay", (st, st2, a["uuid"]), (201, 200, b["uuid"]))
    st, body, _, _ = post("/executions", dict(base, deployment_profile_name="sim-slurm"), headers=key)
    c.eq("same key, other request", (st, body["code"]), (409, "idempotency_conflict"))
    st, body, _, _ = post("/executions", base, headers={"Idempotency-Key": "has space"})
    c.eq("malformed key", (st, body["field"]), (400, "Idempotency-Key"))
    st, body, _, _ = srv.request("PATCH", f"{V2}/executions/{a['uuid']}", {"status": "running"})
    c.eq("only cancel may be patched", (st, body["field"]), (400, "status"))
    st, cancelled, _, _ = srv.request("PATCH", f"{V2}/executions/{a['uuid']}", {"status": "cancelled"})
    c.eq("cancel before submission is immediate", (st, cancelled["status"], cancelled["terminal_outcome"]),
         (200, "cancelled", "cancelled"))

    # --- DIM (simulated): submitted, polled to completion
    st, ex, _, _ = post("/executions", base)
    eid = ex["uuid"]
    post(f"/executions/{eid}/execute", {})
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"))
    c.eq("simulated DIM run completes", (row["status"], row["terminal_outcome"], row["scheduler_name"],
                                          row["submission_state"], row["daliuge_state"]),
         ("completed", "succeeded", "daliuge", "submitted", "finished"))
    c.true("session id is deterministic", row["scheduler_job_id"].startswith(f"BeampipeExecution-{eid}-"))
    c.eq("receipt recorded", len(row["submission_receipt_sha256"] or ""), 64)
    evs = events_of(eid)
    for want in ["execution.created", "execution.running", "execution.execute_started",
                 "execution.submission_recorded", "execution.completed"]:
        c.true(f"event {want}", want in evs)
    c.true("events in order", evs.index("execution.execute_started") < evs.index("execution.submission_recorded")
           < evs.index("execution.completed"))
    c.eq("run record: terminal DIM block", row["beampipe_run_record"]["dim"]["terminal"]["ledger_status"], "completed")
    st, arts, _, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts")
    c.eq("four artifacts", sorted(a["kind"] for a in arts), ["manifest", "patched_graph", "physical_graph", "source_graph"])
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    c.eq("intent observation first", (obs[0]["kind"], obs[0]["raw_state"]), ("daliuge_session", "intent_persisted"))
    st, status, _, _ = srv.request("GET", f"{V2}/executions/{eid}/status")
    c.eq("status view", (status["status"], status["dim_state"]), ("completed", "FINISHED"))
    c.true("duration", status["duration_seconds"] is not None and status["duration_seconds"] >= 0)
    st, summary, _, _ = srv.request("GET", f"{V2}/executions/{eid}/summary")
    c.eq("summary", (summary["requested_source_count"], summary["requested_source_identifiers"]),
         (1, ["HIPASSJ1313-15"]))
    st, snap, _, _ = srv.request("GET", f"{V2}/executions/{eid}/ledger-snapshot")
    c.eq("ledger snapshot pins", (snap["provenance_summary"]["config_version"],
                                  snap["provenance_summary"]["discovery_signature"]),
         (row["project_config_version"], row["discovery_signature"]))
    c.eq("recent events are the newest", snap["provenance_summary"]["recent_events"][-1]["event_type"],
         events_of(eid)[-1])

    # --- Slurm (simulated): awaiting_scheduler → running → completed
    st, ex, _, _ = post("/executions", dict(base, deployment_profile_name="sim-slurm"))
    eid = ex["uuid"]
    post(f"/executions/{eid}/execute", {"do_stage": False})
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"))
    c.eq("simulated Slurm run completes", (row["status"], row["scheduler_name"], row["scheduler_state"]),
         ("completed", "slurm", "succeeded"))
    c.true("bare numeric Slurm job id", row["scheduler_job_id"].isdigit())
    c.true("passed through awaiting_scheduler", "execution.awaiting_scheduler" in events_of(eid))
    st, page, _, _ = srv.request("GET", V2 + "/executions?scheduler_name=slurm")
    c.eq("list filter by scheduler", [i["uuid"] for i in page["items"]], [eid])

    # --- cancel while submitted: requested, then confirmed by the backend
    srv.stop()
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_SIMULATED_RUN_MS="60000"))
    srv.wait_ready()
    st, ex, _, _ = post("/executions", base)
    eid = ex["uuid"]
    post(f"/executions/{eid}/execute", {"do_stage": False})
    wait_execution(srv, eid, lambda r: r["submission_state"] == "submitted")
    st, row, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled", "reason": "operator"})
    c.true("cancel of a submitted run waits for the backend", st in (200, 202) and row["cancel_requested"])
    row = wait_execution(srv, eid, lambda r: r["status"] == "cancelled")
    c.eq("cancel confirmed", (row["status"], row["daliuge_state"], row["terminal_outcome"]),
         ("cancelled", "cancelled", "cancelled"))

    # --- a certain failure, then a guarded retry
    good = wallaby_config(GRAPH)
    upload_config(srv, good.replace(good.split("sha256: \"")[1][:64], "0" * 64, 1))
    st, ex, _, _ = post("/executions", base)
    eid = ex["uuid"]
    post(f"/executions/{eid}/execute", {"do_stage": False})
    row = wait_execution(srv, eid, lambda r: r["status"] == "failed" and r["sources_finalized"])
    c.true("graph digest mismatch fails for certain", "graph sha256 mismatch" in row["last_error"])
    c.eq("nothing was submitted", (row["submission_state"], row["scheduler_job_id"]), ("not_started", None))
    # The source read model is another group: ask it for what the execution read showed.
    st, s1, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1313-15']}?min_position={srv.seen_position}")
    c.eq("a failed run re-marks the source pending", s1["workflow_run_pending"], True)
    st, body, _, _ = post(f"/executions/{eid}/retry", {"reason": ""})
    c.eq("retry needs a reason", (st, body["code"]), (400, "retry_reason_required"))
    st, rt, _, _ = post(f"/executions/{eid}/retry", {"reason": "graph fixed"})
    c.eq("retry accepted", (st, rt["retry_count"], rt["stage"], rt["status"]), (202, 1, "stage_and_manifest", "retrying"))
    row = wait_execution(srv, eid, lambda r: r["status"] == "failed" and r["retry_count"] == 1)
    c.true("retry ran (and failed the same way)", "graph sha256 mismatch" in row["last_error"])
    c.true("retry event", "execution.retry_requested" in events_of(eid))
    upload_config(srv, wallaby_config(GRAPH))

    # --- graph.url: fetched over HTTP and checked against graph.sha256 (protocols §3.1)
    import functools
    import hashlib
    import http.server
    import threading
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    handler = functools.partial(Quiet, directory=os.path.dirname(GRAPH))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    with open(GRAPH, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    url_config = wallaby_config().replace(
        wallaby_config().split("graph:\n")[1].split("\n")[0],
        f"  url: http://127.0.0.1:{web.server_port}/{os.path.basename(GRAPH)}\n  sha256: \"{sha}\"")
    upload_config(srv, url_config)
    st, ex, _, _ = post("/executions", base)
    post(f"/executions/{ex['uuid']}/execute", {"do_stage": False, "do_submit": False})
    row = wait_execution(srv, ex["uuid"], lambda r: r["status"] in ("not_submitted", "failed"))
    c.eq("graph fetched by URL", (row["status"], row["last_error"]), ("not_submitted", None))
    upload_config(srv, url_config.replace(os.path.basename(GRAPH), "missing.graph"))
    st, ex, _, _ = post("/executions", base)
    post(f"/executions/{ex['uuid']}/execute", {"do_stage": False, "do_submit": False})
    row = wait_execution(srv, ex["uuid"], lambda r: r["status"] in ("not_submitted", "failed"))
    c.true("a 404 graph URL fails the run", row["status"] == "failed" and "graph fetch failed" in row["last_error"])
    web.shutdown()
    upload_config(srv, wallaby_config(GRAPH))

    # --- the output verification gate (§12.4): finished is not completed until verified
    upload_config(srv, wallaby_config(GRAPH) + "output_verification:\n  required: true\n")
    st, ex, _, _ = post("/executions", base)
    eid = ex["uuid"]
    c.eq("policy pinned at admission", ex["output_verification_required"], True)
    post(f"/executions/{eid}/execute", {"do_stage": False})
    row = wait_execution(srv, eid, lambda r: r["output_state"] == "pending")
    c.eq("finished DALiuGE waits for verification", (row["status"], row["daliuge_state"], row["control_phase"]),
         ("running", "finished", "output_verification"))
    import hashlib
    products = [{"path": "cubes/HIPASSJ1313-15.fits", "bytes": 1024, "sha256": "a" * 64},
                {"path": "catalogue.xml", "bytes": 10, "sha256": "b" * 64}]
    digest = hashlib.sha256(json.dumps([{"bytes": p["bytes"], "path": p["path"], "sha256": p["sha256"]}
                                        for p in products], separators=(",", ":")).encode()).hexdigest()
    report = {"schema": "wallaby-hires-output-inventory/v1", "patterns": ["*.fits"], "pattern_counts": {"*.fits": 1},
              "products": products, "inventory_sha256": digest, "durable_destination_uri": "s3://wallaby/run-1/",
              "publication": {"acknowledged": True, "publisher": "casda", "receipt_id": "R-1",
                              "published_at": "2026-11-28T12:00:00Z"}}
    for bad_report, field in [(dict(report, inventory_sha256="c" * 64), "inventory_sha256"),
                              (dict(report, products=[dict(products[0], path="../x")]), "products[0].path"),
                              (dict(report, durable_destination_uri="ftp://x"), "durable_destination_uri")]:
        st, body, _, _ = post(f"/executions/{eid}/outputs/verify", bad_report)
        c.eq(f"inventory refused: {field}", (st, body.get("field")), (400, field))
    st, out, _, _ = post(f"/executions/{eid}/outputs/verify", report)
    c.eq("verified completes the run", (st, out["execution"]["status"], out["execution"]["output_state"],
                                        out["artifact"]["kind"]), (200, "completed", "verified", "output_inventory"))
    st, body, _, _ = post(f"/executions/{eid}/outputs/verify", report)
    c.eq("verify twice", st, 409)
    upload_config(srv, wallaby_config(GRAPH))

    # --- crash after the backend accepted the submission, before the receipt is recorded
    srv.stop()
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_FAULT_INJECT="kill_after_dispatch"))
    srv.wait_ready()
    st, ex, _, _ = post("/executions", base)
    eid = ex["uuid"]
    post(f"/executions/{eid}/execute", {"do_stage": False})
    c.eq("process killed itself after dispatch", srv.proc.wait(timeout=60), -signal.SIGKILL)
    srv = Server(conninfo=db, extra_env=ENV)
    srv.wait_ready()
    row = wait_execution(srv, eid, lambda r: r["status"] == "completed")
    c.eq("recovered by lookup, never resubmitted", (row["submission_state"], row["status"]), ("submitted", "completed"))
    evs = events_of(eid)
    c.eq("one intent, uncertain once", (evs.count("execution.submission_uncertain"),
                                        evs.count("execution.submission_recorded")), (1, 0))
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    c.true("lookup observation", any(o["source_version"] == "beampipe-slurm-name-lookup/v1" for o in obs))
    abandon = {"reason": "x", "expected_submission_state": "uncertain",
               "expected_daliuge_session_id": row["daliuge_session_id"],
               "expected_submission_deadline_at": row["submission_deadline_at"],
               "acknowledge_external_job_may_exist": False}
    st, body, _, _ = post(f"/executions/{eid}/submission/abandon", abandon)
    c.eq("abandon needs the acknowledgement", (st, body["field"]), (400, "acknowledge_external_job_may_exist"))
    st, body, _, _ = post(f"/executions/{eid}/submission/abandon", dict(abandon, acknowledge_external_job_may_exist=True))
    c.eq("abandon of a resolved run", (st, body["code"]), (409, "execution_terminal"))

    # The jobs read model: every discovery and execute request, and where it stands.
    st, jobs, _, _ = srv.request("GET", V2 + "/jobs?kind=execute&limit=1000")
    mine = [j for j in jobs if j["execution_id"] == eid]
    c.eq("the recovered run's execute job", [(j["status"], j["attempt"]) for j in mine], [("completed", 1)])
    st, failed, _, _ = srv.request("GET", V2 + "/jobs?kind=execute&status=failed")
    c.true("failed execute jobs carry their error", failed and all(j["last_error"] for j in failed))
    c.true("a retried run has a second job", any(j["attempt"] == 2 for j in jobs))
    st, disc, _, _ = srv.request("GET", V2 + "/jobs?kind=discover_source")
    c.eq("discovery jobs completed", {j["status"] for j in disc}, {"completed"})

    srv.stop()

    # The ledger, observations, artifacts and provenance replay to the same bytes.
    import subprocess
    out = subprocess.run([os.environ["BEAMPIPE_BIN"], "replay", "--verify", "--database-url", db],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:])
    c.eq("replay --verify", out.returncode, 0)
except Exception:
    print("\n".join(list(srv.log)[-40:]))
    raise
finally:
    srv.stop()
c.finish()
