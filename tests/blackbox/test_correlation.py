"""One correlation id follows an operator action (issue #8): the X-Correlation-Id of
POST /executions/{id}/execute is echoed, lands in the metadata of the execute request's event
and of every event the worker then records for that run, and in the worker's JSON log lines."""
import json
import os

from harness import REFERENCE, Checks, Server, create_profile, ready_sources, upload_config, wait_execution, wallaby_config

V2 = "/api/v2"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
c = Checks()
srv = Server(extra_env={"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "",
                        "BEAMPIPE_USE_REAL_BACKENDS": "false", "BEAMPIPE_SIMULATED_RUN_MS": "300",
                        "BEAMPIPE_DIM_POLL_INTERVAL_MS": "100", "BEAMPIPE_EXECUTION_SCAN_MS": "100",
                        "BEAMPIPE_LOG_JSON": "true", "BEAMPIPE_LOG_LEVEL": "debug"})
try:
    srv.wait_ready()
    upload_config(srv, wallaby_config(GRAPH))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                   translation={"algo": "metis", "num_par": 1, "num_islands": 0, "tm_url": "http://127.0.0.1:8084"})
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("created", st, 201)
    corr = "op-7f3a-execute"
    st, _, hdrs, _ = srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute", {"do_stage": False},
                                 headers={"X-Correlation-Id": corr})
    c.eq("execute accepted, correlation echoed", (st, hdrs.get("X-Correlation-Id")), (202, corr))
    row = wait_execution(srv, ex["uuid"], lambda r: r["status"] in ("completed", "failed"))
    c.eq("the run completes", row["status"], "completed")

    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    run = [e for e in feed["events"] if e["stream_id"] == "execution-" + ex["uuid"]]
    after = run[[e["type"] for e in run].index("ExecutionExecuteRequested"):]
    c.true("the worker recorded events for the run", len(after) >= 3)
    c.eq("every event from the execute request on carries its correlation id",
         sorted({e["metadata"].get("correlation_id") for e in after}), [corr])
    c.eq("the create carries its own", run[0]["metadata"].get("correlation_id") != corr, True)
finally:
    srv.stop()
lines = [json.loads(line) for line in srv.log if line.startswith("{")]
c.true("log lines are JSON", len(lines) > 0)
c.true("log lines carry the correlation id", any(l.get("correlation_id") == corr for l in lines))
c.finish()
