"""Executions through the real DALiuGE REST client (BEAMPIPE_USE_REAL_BACKENDS=true) against the
Translator Manager + Data Island Manager stand-in (tests/standins/daliuge_standin.py, faithful to
protocols §4–5): deploy and poll to FINISHED and to FAILED, cancel confirmed by the DIM, and a
crash between the recorded intent and the receipt leaving exactly one session. Finished sessions
stay on the DIM unless the profile sets delete_finished_sessions, and then each is deleted once
its end is recorded."""
import os
import signal
import socket
import tempfile
import time

from harness import (Checks, DaliugeStandin, Server, create_profile, free_port, fresh_database, ready_sources, test_graph,
                     upload_config, wait_execution, wait_for, wallaby_config)
from time_travel import Recorder, check_time_travel

V2 = "/api/v2"
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "true", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100",
       "BEAMPIPE_DIM_POLL_BUDGET_SECONDS": "3"}
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-dim-")
dlg = DaliugeStandin("--finish-after-polls", "3")
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def post(path, body):
    return srv.request("POST", V2 + path, body)


def run(graph, execute=None, profile_id=None):
    upload_config(srv, wallaby_config(graph))
    body = {"project_module": "wallaby_hires", "archive_name": "casda",
            "sources": [{"source_identifier": "HIPASSJ1313-15"}]}
    if profile_id:
        body["deployment_profile_id"] = profile_id
    st, ex, _, _ = post("/executions", body)
    assert st == 201, ex
    st, body, _, _ = post(f"/executions/{ex['uuid']}/execute", execute or {"do_stage": False})
    assert st == 202, body
    return ex["uuid"]


def sessions():
    return [s["sessionId"] for s in dlg.dim("GET", "/api/sessions")[1]]


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": dlg.dim_port,
                                "dim_host_for_tm": "127.0.0.1", "dim_port_for_tm": dlg.dim_port},
                   translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                "tm_url": f"http://127.0.0.1:{dlg.tm_port}"})

    # Deployed and polled to FINISHED.
    eid = run(test_graph(tmp))
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"))
    c.eq("DIM run completes", (row["status"], row["daliuge_state"], row["scheduler_name"]),
         ("completed", "finished", "daliuge"))
    sid = row["daliuge_session_id"]
    c.eq("the DIM holds the session", sid in sessions(), True)
    c.eq("operator URLs", row["dim_session_status_url"],
         f"http://127.0.0.1:{dlg.dim_port}/api/sessions/{sid}/status")
    reqs = dlg.dim("GET", "/__standin/requests")[1]
    tm_calls = [(r["method"], r["path"]) for r in reqs if r["server"] == "tm"]
    c.true("translated by unroll_and_partition then map", ("POST", "/unroll_and_partition") in tm_calls
           and ("POST", "/map") in tm_calls)
    appended = [r for r in reqs if r["server"] == "dim" and r["path"].endswith("/graph/append") and sid in r["path"]]
    c.eq("graph appended once as JSON", (len(appended), appended[0]["headers"]["content-type"]),
         (1, "application/json"))
    c.true("the manifest reached the beampipe-ingest drop", "manifest_path" in appended[0]["body"]
           and "HIPASSJ1313-15" in appended[0]["body"])
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    corr = [e["metadata"]["correlation_id"] for e in feed["events"]
            if e["stream_id"] == "execution-" + eid and e["type"] == "ExecutionExecuteRequested"][0]
    c.eq("the deploy calls carry the execute request's correlation id",
         {appended[0]["headers"].get("x-correlation-id")} | {r["headers"].get("x-correlation-id") for r in reqs
                                                           if r["server"] == "tm"}, {corr})
    st, arts, _, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts")
    c.true("physical graph stored", "physical_graph" in [a["kind"] for a in arts])
    # GET /daliuge/inspect and /daliuge/sessions (issue #21): the managers asked now.
    st, seen, _, _ = srv.request("GET", "/api/v2/daliuge/inspect?profile=dim")
    c.eq("inspect: both answer", (st, seen["profile"], seen["translator"]["reachable"], seen["manager"]["reachable"]),
         (200, "dim", True, True))
    c.true("the TM's submission methods", len(seen["translator"]["submission_methods"]) > 0)
    c.eq("the DIM's sessions, as it lists them", sorted(x["sessionId"] for x in seen["manager"]["sessions"]),
         sorted(sessions()))
    st, listed, _, _ = srv.request("GET", "/api/v2/daliuge/sessions")
    c.eq("sessions of the only default profile", (st, listed["profile"], sid in [x["sessionId"] for x in listed["sessions"]]),
         (200, "dim", True))
    create_profile(srv, "gone", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": free_port()},
                   is_default=False, translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                                  "tm_url": f"http://127.0.0.1:{dlg.tm_port}"})
    st, seen, _, _ = srv.request("GET", "/api/v2/daliuge/inspect?profile=gone")
    c.eq("a down DIM is reported, the TM still answers",
         (st, seen["manager"]["reachable"], bool(seen["manager"]["detail"]), seen["translator"]["reachable"]),
         (200, False, True, True))
    st, err, _, _ = srv.request("GET", "/api/v2/daliuge/sessions?profile=gone")
    c.eq("its sessions: 502", (st, err["code"]), (502, "daliuge_unreachable"))
    st, err, _, _ = srv.request("GET", "/api/v2/daliuge/sessions?profile=nope")
    c.eq("an unknown profile", (st, err.get("field")), (404, "profile"))
    c.eq("run record terminal block", row["beampipe_run_record"]["dim"]["terminal"]["ledger_status"], "completed")
    # Off by default: once the run is over and its sources finalised, the session stays.
    finished_sid = sid
    row = wait_execution(srv, eid, lambda r: r["sources_finalized"])
    c.true("off by default: the finished session stays on the DIM", finished_sid in sessions())
    c.eq("off by default: no DELETE", [r["path"] for r in dlg.dim("GET", "/__standin/requests")[1]
                                       if r["method"] == "DELETE" and finished_sid in r["path"]], [])

    # An error drop: FINISHED with errors is FAILED (§5.3).
    eid = run(test_graph(tmp, beampipe_test_outcome="error"))
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"))
    c.eq("DIM run with an error drop fails", (row["status"], row["daliuge_state"], row["terminal_outcome"]),
         ("failed", "failed", "failed"))
    c.true("error names the session", row["daliuge_session_id"] in (row["last_error"] or ""))
    c.true("logs URL recorded", row["beampipe_run_record"].get("dim_logs_url", "").endswith("/logs"))

    # delete_finished_sessions: each ended session (finished, failed) is deleted on the DIM
    # once its end is recorded, with one DELETE.
    st, body, _, text = post("/deployment-profiles", {
        "name": "dim-bad-delete", "project_module": "wallaby_hires",
        "deployment": {"kind": "rest_remote", "deploy_host": "127.0.0.1", "delete_finished_sessions": "yes"}})
    c.eq("a non-boolean option is refused", st, 422)
    c.true("naming the field", "deployment.delete_finished_sessions" in text)
    deleting = create_profile(srv, "dim-delete", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                                  "deploy_port": dlg.dim_port, "dim_host_for_tm": "127.0.0.1",
                                                  "dim_port_for_tm": dlg.dim_port, "delete_finished_sessions": True},
                              is_default=False, translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                                             "tm_url": f"http://127.0.0.1:{dlg.tm_port}"})
    c.eq("the option is kept", deleting["deployment"].get("delete_finished_sessions"), True)
    for graph, outcome in ((test_graph(tmp), "completed"), (test_graph(tmp, beampipe_test_outcome="error"), "failed")):
        eid = run(graph, profile_id=deleting["uuid"])
        row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed") and r["sources_finalized"])
        sid = row["daliuge_session_id"]
        c.eq(f"{outcome} run on the deleting profile", row["status"], outcome)
        wait_for(f"the {outcome} session to be deleted", lambda: sid not in sessions(), timeout=30, srv=srv)
        deletes = [r for r in dlg.dim("GET", "/__standin/requests")[1]
                   if r["method"] == "DELETE" and r["path"] == f"/api/sessions/{sid}"]
        c.eq(f"{outcome}: one DELETE of the session", len(deletes), 1)
        c.eq(f"{outcome}: the run keeps its record", (row["daliuge_state"], row["scheduler_job_id"]),
             ("finished" if outcome == "completed" else "failed", sid))
    c.true("the session of the run on the default profile is still there", finished_sid in sessions())

    # Cancel: recorded as cancelled only once the DIM confirms.
    dlg.dim("POST", "/__standin/config", {"finish_after_polls": 0})
    eid = run(test_graph(tmp))
    row = wait_execution(srv, eid, lambda r: r["reconciliation_code"] == "poll_budget_exhausted")
    c.eq("a session that never ends is escalated, not failed", (row["status"], row["daliuge_state"]),
         ("running", "running"))
    c.true("escalation event", "execution.reconciliation_mismatch" in
           [e["event_type"] for e in srv.request("GET", f"{V2}/executions/{eid}/events")[1]])
    st, row, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled"})
    c.eq("cancel requested", (st in (200, 202), row["cancel_requested"]), (True, True))
    row = wait_execution(srv, eid, lambda r: r["status"] == "cancelled")
    c.eq("DIM confirmed the cancel", row["daliuge_state"], "cancelled")
    c.true("cancel reached the DIM", any(r["path"].endswith(f"{row['daliuge_session_id']}/cancel")
                                         for r in dlg.dim("GET", "/__standin/requests")[1]))

    # A cancel racing the end of the run (#17): the session finishes while the cancel is on
    # its way, and the DIM refuses it (555 InvalidSessionState). The run must end as the DIM
    # says (completed), not loop on the cancel for ever.
    eid = run(test_graph(tmp))
    row = wait_execution(srv, eid, lambda r: r["daliuge_state"] == "running")
    sid = row["daliuge_session_id"]
    dlg.dim("DELETE", "/__standin/requests")
    dlg.dim("POST", "/__standin/faults", {"server": "dim", "method": "POST", "path": f"{sid}/cancel$",
                                          "count": 1, "action": "delay", "delay_ms": 1500})
    st, _, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled"})
    c.eq("cancel requested on a running session", st, 202)
    time.sleep(0.5)  # the cancel is held in the stand-in; the session ends meanwhile
    dlg.dim("POST", f"/__standin/sessions/{sid}/finish", {})
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed", "cancelled"), timeout=60)
    c.eq("a cancel that lost the race ends with the DIM's verdict", (row["status"], row["daliuge_state"]),
         ("completed", "finished"))
    cancels = [r for r in dlg.dim("GET", "/__standin/requests")[1] if r["path"].endswith(f"{sid}/cancel")]
    c.true(f"the refused cancel was not re-sent in a loop ({len(cancels)})", 1 <= len(cancels) <= 2)
    dlg.dim("DELETE", "/__standin/faults")
    dlg.dim("POST", "/__standin/config", {"finish_after_polls": 3})

    # A DIM that does not answer (#17): found by the preflight, before any intent, and the
    # run fails for certain (it used to be filed as uncertain and stay so for good).
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    bad = create_profile(srv, "dim-closed", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                             "deploy_port": closed_port},
                         is_default=False, translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                                        "tm_url": f"http://127.0.0.1:{dlg.tm_port}"})
    st, ex, _, _ = post("/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                        "deployment_profile_id": bad["uuid"],
                                        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("a run on the closed DIM", st, 201)
    post(f"/executions/{ex['uuid']}/execute", {"do_stage": False})
    row = wait_execution(srv, ex["uuid"], lambda r: r["status"] in ("failed", "completed"), timeout=60)
    c.eq("an unreachable DIM fails the run for certain",
         (row["status"], row["submission_state"], row["failure_class"]),
         ("failed", "not_started", "dependency_unavailable"))
    c.true("the error says the preflight found it", "preflight" in (row["last_error"] or ""))
    evs = [e["event_type"] for e in srv.request("GET", f"{V2}/executions/{ex['uuid']}/events")[1]]
    c.true("no submission was intended", not any("intend" in t or "submission" in t for t in evs))

    # SIGKILL after the DIM accepted the deploy, before the receipt: exactly one session.
    srv.stop()
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_FAULT_INJECT="kill_after_dispatch"))
    srv.wait_ready()
    eid = run(test_graph(tmp))
    c.eq("killed after dispatch", srv.proc.wait(timeout=120), -signal.SIGKILL)
    srv = Server(conninfo=db, extra_env=ENV)
    srv.wait_ready()
    rec = Recorder(srv, f"{V2}/executions/{eid}")
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"))
    sid = row["daliuge_session_id"]
    c.eq("adopted after the crash and completed", (row["status"], row["scheduler_job_id"]), ("completed", sid))
    # Time travel (#22) through the uncertain submission and its adoption: every answer seen
    # after the restart is the run as of its event, and the history passes through uncertain.
    time.sleep(0.3)
    steps = check_time_travel(c, srv, "uncertain then adopted", f"{V2}/executions/{eid}", rec.finish(),
                              min_recorded=1)
    c.true("the history shows the uncertain submission",
           any(s["state"]["submission_state"] == "uncertain" for s in steps))
    c.eq("exactly one session with that id", sessions().count(sid), 1)
    creates = [r for r in dlg.dim("GET", "/__standin/requests")[1]
               if r["method"] == "POST" and r["path"] == "/api/sessions" and sid in r["body"]]
    c.eq("created exactly once", len(creates), 1)
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    c.true("lookup recorded", any(o["source_version"] == "beampipe-slurm-name-lookup/v1" for o in obs))

    # Unreachable TM: a certain failure, nothing submitted.
    create_profile(srv, "dead", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 9},
                   is_default=False, translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                                  "tm_url": "http://127.0.0.1:9"})
    upload_config(srv, wallaby_config(test_graph(tmp)))
    st, ex, _, _ = post("/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                        "deployment_profile_name": "dead",
                                        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    post(f"/executions/{ex['uuid']}/execute", {"do_stage": False})
    row = wait_execution(srv, ex["uuid"], lambda r: r["status"] == "failed")
    # The preflight finds it before any intent: the submission never started.
    c.eq("unreachable TM fails for certain", (row["submission_state"], row["scheduler_job_id"]),
         ("not_started", None))
    c.true("the preflight names the Translator Manager", "Translator Manager" in (row["last_error"] or ""))
except Exception:
    print("\n".join(list(srv.log)[-40:]))
    raise
finally:
    srv.stop()
    dlg.stop()
c.finish()
