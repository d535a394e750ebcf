"""Every DALiuGE run reaches an end (issue #17), against the TM + DIM stand-in with faults:
a deploy refused with 555 or hung past its timeout (one recorded redeploy, then the run
completes), an append lost
(the session never got its graph: a clear failure), a redeploy refused too (a clear failure
after its grace), the DIM restarting mid-run (the run is lost, not running for ever), a cancel
reaching a DIM that forgot the session, a cancel never confirmed (withdrawn, then abandoned),
and a submission whose create answer was lost and that lookups never find (abandonable once
their budget is spent, with one recorded not_found lookup instead of one per round).
Never a second session."""
import http.server
import json
import tempfile
import threading
import time

from harness import (Checks, DaliugeStandin, Server, create_profile, fresh_database, ready_sources, test_graph,
                     upload_config, wait_execution, wallaby_config)

V2 = "/api/v2"
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "true", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100",
       "BEAMPIPE_WORKER_SUBMISSION_TIMEOUT_SECONDS": "5", "BEAMPIPE_DIM_LOOKUP_BUDGET_SECONDS": "0",
       "BEAMPIPE_CANCEL_ATTEMPTS": "2", "BEAMPIPE_REDEPLOY_GRACE_SECONDS": "2",
       "BEAMPIPE_ALERT_EVALUATOR_INTERVAL_SECONDS": "1"}
TERMINAL = ("completed", "failed", "cancelled")
alerts = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        alerts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


rx = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=rx.serve_forever, daemon=True).start()
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-dim-liveness-")
dlg = DaliugeStandin("--finish-after-polls", "3")
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def post(path, body):
    return srv.request("POST", V2 + path, body)


def run():
    st, ex, _, _ = post("/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    assert st == 201, ex
    st, body, _, _ = post(f"/executions/{ex['uuid']}/execute", {"do_stage": False})
    assert st == 202, body
    return ex["uuid"]


def fault(path, action, count=1, method="POST", **extra):
    dlg.dim("POST", "/__standin/faults", dict({"server": "dim", "method": method, "path": path, "count": count,
                                               "action": action}, **extra))


def requests_to(suffix, method="POST"):
    return [r for r in dlg.dim("GET", "/__standin/requests")[1]
            if r["server"] == "dim" and r["method"] == method and r["path"].endswith(suffix)]


def events(eid):
    return [e["event_type"] for e in srv.request("GET", f"{V2}/executions/{eid}/events")[1]]


def creates(sid):
    return [r for r in requests_to("/api/sessions") if sid in r["body"]]


def abandon(row, state):
    return post(f"/executions/{row['uuid']}/submission/abandon",
                {"reason": "the run stopped moving", "expected_submission_state": state,
                 "expected_daliuge_session_id": row["daliuge_session_id"],
                 "expected_submission_deadline_at": row["submission_deadline_at"],
                 "acknowledge_external_job_may_exist": True})


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": dlg.dim_port,
                                "dim_host_for_tm": "127.0.0.1", "dim_port_for_tm": dlg.dim_port},
                   translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                "tm_url": f"http://127.0.0.1:{dlg.tm_port}"})

    # 1. The deploy answers 555 and does nothing: the session stays BUILDING. It is found by
    # name, deployed once more (recorded first), and the run completes.
    fault("/deploy$", "http555")
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=90)
    sid = row["daliuge_session_id"]
    c.eq("a refused deploy is deployed again and the run completes",
         (row["status"], row["daliuge_state"], row["adopted_by_lookup"]), ("completed", "finished", True))
    c.true("the redeploy was recorded", row["redeploy_intended_at"] is not None
           and "execution.redeploy_intended" in events(eid))
    c.eq("two deploys, one session", (len(requests_to(f"{sid}/deploy")), len(creates(sid))), (2, 1))
    c.eq("the adopted run has no stale error", (row["last_error"], row["failure_class"]), (None, None))
    st, arts, _, _ = srv.request("GET", f"{V2}/executions/{eid}/artifacts")
    c.true("it has the receipt and the physical graph the DIM holds", row["submission_receipt_sha256"]
           and row["physical_graph_sha256"] in [a["sha256"] for a in arts if a["kind"] == "physical_graph"])

    # 1b. The deploy hangs past its 30 s timeout (the stand-in holds it for 90 s): uncertain,
    # found BUILDING, deployed again (recorded), completes; the held deploy then meets a
    # running session and changes nothing.
    dlg.dim("DELETE", "/__standin/requests")
    fault("/deploy$", "delay", delay_ms=90000)
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=150)
    sid = row["daliuge_session_id"]
    c.eq("a hung deploy: redeployed once and completed",
         (row["status"], row["redeploy_intended_at"] is not None, len(creates(sid))), ("completed", True, 1))
    dlg.dim("DELETE", "/__standin/faults")

    # 2. The append's answer is lost: the session exists but never got its graph (PRISTINE).
    # Nothing can run there, so the run fails for certain, at once and without a redeploy.
    dlg.dim("DELETE", "/__standin/requests")
    fault("/graph/append$", "http555")
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=90)
    sid = row["daliuge_session_id"]
    c.eq("a session without its graph fails clearly",
         (row["status"], row["submission_state"], row["failure_class"]), ("failed", "failed", "deploy_not_taken"))
    c.true("the error says why", "never received its graph" in (row["last_error"] or ""))
    c.eq("no deploy was sent", len(requests_to(f"{sid}/deploy")), 0)

    # 3. The deploy and its one redeploy are both refused: a clear failure after the grace.
    dlg.dim("DELETE", "/__standin/requests")
    fault("/deploy$", "http555", count=2)
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=90)
    sid = row["daliuge_session_id"]
    c.eq("a session never deployed fails after its one redeploy",
         (row["status"], row["failure_class"], len(requests_to(f"{sid}/deploy"))), ("failed", "deploy_not_taken", 2))
    c.true("the error names the state", "still BUILDING" in (row["last_error"] or ""))
    c.eq("one redeploy intent", events(eid).count("execution.redeploy_intended"), 1)
    dlg.dim("DELETE", "/__standin/faults")

    # 4. The DIM restarts mid-run and forgets the session: the run is lost, and says so.
    dlg.dim("POST", "/__standin/config", {"finish_after_polls": 0})
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["daliuge_state"] == "running")
    dlg.dim("POST", "/__standin/reset")
    dlg.dim("POST", "/__standin/config", {"finish_after_polls": 0})
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=60)
    c.eq("a session the DIM forgot fails the run", (row["status"], row["failure_class"]), ("failed", "session_lost"))
    c.true("the error says the DIM lost it", "no longer known" in (row["last_error"] or ""))

    # 5. A cancel on its way while the DIM restarts: NoSessionException is the end of it.
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["daliuge_state"] == "running")
    sid = row["daliuge_session_id"]
    fault(f"{sid}/cancel$", "delay", delay_ms=1500)
    st, _, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled"})
    c.eq("cancel requested", st, 202)
    deadline = time.monotonic() + 30
    while not requests_to(f"{sid}/cancel") and time.monotonic() < deadline:
        time.sleep(0.05)  # until the stand-in holds the cancel
    dlg.dim("POST", "/__standin/reset")  # the held cancel then meets a DIM without the session
    dlg.dim("POST", "/__standin/config", {"finish_after_polls": 0})
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=60)
    c.eq("a cancel of a forgotten session ends the run", (row["status"], row["scheduler_raw_state"]),
         ("cancelled", "session_missing"))

    # 6. A cancel the DIM never confirms: withdrawn after its last attempt with the evidence,
    # the run polled again, and an operator can then abandon it.
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["daliuge_state"] == "running")
    sid = row["daliuge_session_id"]
    fault(f"{sid}/cancel$", "http500", count=-1)
    st, body, _, _ = abandon(row, "submitted")
    c.eq("a running run is not abandonable", (st, body.get("code")), (409, "abandon_not_stuck"))
    srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled"})
    row = wait_execution(srv, eid, lambda r: r["cancel_unconfirmed"], timeout=60)
    c.eq("the unconfirmed cancel is withdrawn", (row["status"], row["cancel_requested"],
                                                 row["reconciliation_code"]),
         ("running", False, "cancel_unconfirmed"))
    c.eq("two attempts, then it stopped", len(requests_to(f"{sid}/cancel")), 2)
    c.true("withdrawal event", "execution.cancel_unconfirmed" in events(eid))
    st, _, _, text = srv.request("GET", V2 + "/metrics")
    c.true("the stuck run is counted", 'beampipe_execution_stuck{state="running",reason="cancel_unconfirmed"} 1'
           in text)
    st, ch, _, _ = post("/notification-channels", {"name": "ops", "kind": "webhook",
                                                   "config": {"url": f"http://127.0.0.1:{rx.server_port}/hook"}})
    st, rule, _, _ = post("/alert-rules", {"name": "stuck runs", "trigger_kind": "execution_stuck",
                                           "trigger_config": {}, "channel_ids": [ch["uuid"]]})
    c.eq("an execution_stuck rule", (st, rule["trigger_config"]), (201, {"threshold": 1}))
    deadline = time.monotonic() + 60
    while not any(a.get("alert") == "execution_stuck" for a in alerts) and time.monotonic() < deadline:
        time.sleep(0.2)
    fired = [a for a in alerts if a.get("alert") == "execution_stuck"]
    c.true("the rule fires", len(fired) == 1 and fired[0]["details"]["value"] == 1)
    srv.request("PATCH", f"{V2}/alert-rules/{rule['uuid']}", {"enabled": False})
    st, row = abandon(row, "submitted")[:2]
    c.eq("then the operator can end it", (st, row["status"], row["terminal_outcome"]), (200, "failed", "inconsistent"))
    dlg.dim("DELETE", "/__standin/faults")
    dlg.dim("POST", "/__standin/config", {"finish_after_polls": 3})

    # 7. The create's answer is lost (connection closed after the request): uncertain. The
    # session was never made, so lookups keep answering not_found; each change is recorded
    # once, and past the budget the run is flagged and can be abandoned.
    dlg.dim("DELETE", "/__standin/requests")
    fault("^/api/sessions$", "close")
    eid = run()
    row = wait_execution(srv, eid, lambda r: r["lookup_budget_exhausted"], timeout=90)
    c.eq("the unresolved submission is flagged, not ended", (row["status"], row["submission_state"],
                                                             row["reconciliation_code"]),
         (row["status"], "uncertain", "lookup_budget_exhausted"))
    st, ev, _, _ = srv.request("GET", f"{V2}/executions/{eid}/events")
    spent = [e for e in ev if e["event_type"] == "execution.lookup_budget_exhausted"]
    c.eq("one budget event", len(spent), 1)
    evidence = spent[0]["payload"]["evidence"]
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    lookups = [o["payload"]["outcome"] for o in obs if o["source_version"] == "beampipe-slurm-name-lookup/v1"]
    c.true(f"not_found recorded on change, not per lookup ({lookups.count('not_found')} records, "
           f"{evidence['not_found']} lookups)", lookups.count("not_found") <= 2 <= evidence["not_found"] - 1)
    st, row = abandon(row, "uncertain")[:2]
    c.eq("abandoned", (st, row["status"], row["failure_class"]), (200, "failed", "abandoned"))
    c.eq("the create was sent once", len(creates(row["daliuge_session_id"])), 1)
    c.true("and no session exists", row["daliuge_session_id"] not in
           [s["sessionId"] for s in dlg.dim("GET", "/api/sessions")[1]])
except Exception:
    print("\n".join(list(srv.log)[-60:]))
    raise
finally:
    srv.stop()
    dlg.stop()
    rx.shutdown()
c.finish()
