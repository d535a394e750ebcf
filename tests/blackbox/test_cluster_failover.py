"""A run mid-submission on a killed member is resumed by the member that takes its shard, and
nothing is submitted twice (issue #23). Two clustered nodes use the real DALiuGE client against
the TM + DIM stand-in; node-b dies by SIGKILL right after the DIM accepted a run's deploy and
before the receipt was recorded (BEAMPIPE_FAULT_INJECT=kill_after_dispatch). The run was created
and executed through node-a, but placed on node-b (the holder of its stream's shard). After
node-b's lease runs out node-a takes the shard, looks the submission up by name, adopts the one
session and completes the run: the DIM saw exactly one deploy for it."""
import os
import signal
import subprocess
import tempfile

from cluster import owners, replay_verifies, shard_of, spread
from harness import (V2, Checks, DaliugeStandin, Server, create_profile, free_port, fresh_database, ready_sources,
                     test_graph, upload_config, wait_execution, wait_for, wallaby_config)

PSQL = "/usr/lib/postgresql/15/bin/psql"
SHARDS = 16
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "true", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100",
       "BEAMPIPE_CLUSTER_SHARDS": str(SHARDS), "BEAMPIPE_CLUSTER_LEASE_SECONDS": "2",
       "BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS": "1"}
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-failover-")
dlg = DaliugeStandin("--finish-after-polls", "3")
db = fresh_database()


def node(name, **extra):
    return Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_NODE_ID=name,
                                              BEAMPIPE_CLUSTER_BIND_ADDR=f"127.0.0.1:{free_port()}", **extra))


def settled(a, b):
    return all(spread(srv) == {"node-a": 8, "node-b": 8} for srv in (a, b))


a = node("node-a")
b = None
try:
    a.wait_ready()
    b = node("node-b", BEAMPIPE_FAULT_INJECT="kill_after_dispatch")
    b.token = a.token
    b.wait_ready()
    c.true("two members share the shards", wait_for("8/8", lambda: settled(a, b), timeout=30))
    create_profile(a, "standin", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": dlg.dim_port,
                                  "dim_host_for_tm": "127.0.0.1", "dim_port_for_tm": dlg.dim_port},
                   translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                "tm_url": f"http://127.0.0.1:{dlg.tm_port}"},
                   max_concurrent_executions=50)
    upload_config(a, wallaby_config(test_graph(tmp)))
    ready_sources(a, "wallaby_hires", ["HIPASSJ1313-15"])

    # An execution whose stream node-b holds, created and executed through node-a.
    held = owners(a)
    eid = None
    for _ in range(40):
        st, ex, _, _ = a.request("POST", V2 + "/executions", {
            "project_module": "wallaby_hires", "archive_name": "casda",
            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
        if st == 201 and held[shard_of("execution-" + ex["uuid"], SHARDS)] == "node-b":
            eid = ex["uuid"]
            break
    c.true("an execution placed on node-b", eid is not None)
    st, _, _, _ = a.request("POST", f"{V2}/executions/{eid}/execute", {"do_stage": False})
    c.eq("executed through node-a", st, 202)
    c.eq("node-b runs it and dies right after the DIM accepted it", b.proc.wait(timeout=120), -signal.SIGKILL)
    c.true("node-a takes node-b's shards after the lease",
           wait_for("a holds all", lambda: set(owners(a).values()) == {"node-a"}, timeout=30))
    row = wait_execution(a, eid, lambda r: r["status"] in ("completed", "failed"), timeout=120)
    sid = row["daliuge_session_id"]
    c.eq("the new holder adopted the session and completed the run",
         (row["status"], row["scheduler_job_id"]), ("completed", sid))
    r = subprocess.run([PSQL, db, "-Atc", f"SELECT event_type, metadata->>'node' FROM events WHERE "
                        f"stream_id = 'execution-{eid}' ORDER BY stream_version"],
                       capture_output=True, text=True, check=True)
    writers = [tuple(line.split("|")) for line in r.stdout.split()]
    c.true(f"the intent written on node-b, the lookup and the end on node-a ({writers})",
           [w for t, w in writers if t == "SubmissionIntended"] == ["node-b"] and
           [w for t, w in writers if t == "SubmissionUncertain"] == ["node-a"] and
           writers[-1][1] == "node-a")
    creates = [r for r in dlg.dim("GET", "/__standin/requests")[1]
               if r["method"] == "POST" and r["path"] == "/api/sessions" and sid in r["body"]]
    c.eq("the DIM saw exactly one deploy of it", len(creates), 1)
    a.stop()
    c.true("replay --verify passes", replay_verifies(db))
finally:
    for s in (a, b):
        if s:
            s.stop()
    dlg.stop()
c.finish()
