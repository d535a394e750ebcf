"""Work follows the shards (issue #23): on clustered nodes, a source's discovery runs on the node
holding the source stream's shard, an execution's run (its state machine and every external step)
on the node holding the execution stream's shard, and the scheduler leads on the holder of the
scheduler stream's shard. Checked through the job leases (who claimed each job) against the
leases of the shards, with executions created and executed through both nodes."""
import os

from cluster import owners, psql_json, replay_verifies, shard_of, spread
from harness import (REFERENCE, V2, Checks, Server, create_profile, fresh_database, free_port, ready_sources,
                     upload_config, wait_execution, wait_for, wallaby_config)

GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
SHARDS = 16
c = Checks()
db = fresh_database()


def node(name, scheduler=False):
    return Server(conninfo=db, extra_env={
        "BEAMPIPE_NODE_ID": name, "BEAMPIPE_CLUSTER_BIND_ADDR": f"127.0.0.1:{free_port()}",
        "BEAMPIPE_CLUSTER_SHARDS": str(SHARDS), "BEAMPIPE_CLUSTER_LEASE_SECONDS": "5",
        "BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS": "1",
        "BEAMPIPE_SCHEDULER_ENABLED": "true" if scheduler else "false",
        "BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": ""})


def settled(a, b):
    return all(spread(srv) == {"node-a": 8, "node-b": 8} for srv in (a, b))


def sql(q):
    return psql_json(db, q)


a = node("node-a")
b = None
try:
    a.wait_ready()
    b = node("node-b")
    b.token = a.token
    b.wait_ready()
    c.true("two members share the shards", wait_for("8/8 everywhere", lambda: settled(a, b), timeout=30))
    shard_owner = owners(a)

    upload_config(a, wallaby_config(GRAPH))
    create_profile(a, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                   max_concurrent_executions=50)
    idents = ["HIPASSJ1313-15", "HIPASSJ1318-21", "HIPASSJ1321-31", "HIPASSJ1337-39"]
    ids = ready_sources(a, "wallaby_hires", idents)

    # Discovery: each request's job was claimed by the holder of its source's shard.
    requests = sql("SELECT coalesce(json_agg(json_build_object('stream', stream_id, 'request', "
                   "data->>'request_id')), '[]') FROM events WHERE event_type = 'DiscoveryRequested'")
    claims = {r["job"]: r["owner"] for r in sql(
        "SELECT coalesce(json_agg(json_build_object('job', job_id, 'owner', owner)), '[]') FROM "
        "job_leases WHERE kind = 'discover_source'")}
    placed = [(claims.get(r["request"]), shard_owner[shard_of(r["stream"], SHARDS)]) for r in requests]
    c.true(f"each discovery ran on its source's shard holder ({placed})",
           len(placed) == len(idents) and all(got == want for got, want in placed))
    c.true("and both nodes ran some", {got for got, _ in placed} == {"node-a", "node-b"} or
           len({want for _, want in placed}) == 1)

    # Executions created and executed through both nodes (the simulated archive has data for
    # the first two sources).
    # Execution ids are random, so six of them all land on one node's shards one time in 32:
    # more are created (at most 24) until both nodes hold some.
    eids = []
    i = -1
    while len(eids) < 6 or (len({shard_owner[shard_of("execution-" + e, SHARDS)] for e in eids}) < 2
                            and len(eids) < 24):
        i += 1
        srv = a if i % 2 else b
        st, ex, _, _ = srv.request("POST", V2 + "/executions", {
            "project_module": "wallaby_hires", "archive_name": "casda",
            "sources": [{"source_identifier": idents[i % 2]}]})
        c.eq(f"execution {i} created through {srv.env['BEAMPIPE_NODE_ID']}", st, 201)
        eids.append(ex["uuid"])
        st, _, _, _ = srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute",
                                  {"do_stage": False, "do_submit": True})
        c.eq("and executed", st, 202)
    for i, eid in enumerate(eids):
        row = wait_execution(a, eid, lambda r: r["status"] in ("completed", "failed"), timeout=120)
        c.eq(f"run {i} completed", (row["status"], row.get("last_error")), ("completed", None))
    claims = {r["job"]: r["owner"] for r in sql(
        "SELECT coalesce(json_agg(json_build_object('job', job_id, 'owner', owner, 'kind', kind)), "
        "'[]') FROM job_leases WHERE kind LIKE 'execut%'")}
    jobs = {r["stream"]: r["job"] for r in sql(
        "SELECT coalesce(json_agg(json_build_object('stream', stream_id, 'job', data->>'job_id')), "
        "'[]') FROM events WHERE event_type = 'ExecutionExecuteRequested'")}
    placed = [(claims.get(jobs["execution-" + eid]), shard_owner[shard_of("execution-" + eid, SHARDS)]) for eid in eids]
    c.true(f"each run's steps ran on its execution's shard holder ({placed})",
           all(got == want for got, want in placed))
    c.true("runs were placed on both nodes", len({want for _, want in placed}) == 2)
    c.eq("the shards did not move meanwhile", owners(a), shard_owner)
    b.stop()
    a.stop()
    c.true("replay --verify passes", replay_verifies(db))
finally:
    for s in (a, b):
        if s:
            s.stop()
c.finish()
