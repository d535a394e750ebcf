"""Workers (issue #21): the registry by heartbeats, API registrations and their beats, the leases
held, and the operator's drain. A drained node claims no job from the moment the drain answers
(the database refuses its claims), gives up the scheduler lead, finishes what it held, and says
so in /ready; the other node takes the rest, and no job is lost or done twice."""
import subprocess
import time

from harness import Checks, Server, create_user, fresh_database, upload_config, wait_for, wallaby_config

V2 = "/api/v2"
PSQL = "/usr/lib/postgresql/15/bin/psql"
MODULE = "wallaby_hires"
c = Checks()
db = fresh_database()
# Beats every second, so a drain reaches /ready and the scheduler within a few.
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_SCHEDULER_ENABLED": "true",
       "BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS": "1"}


def sql(query):
    return subprocess.run([PSQL, db, "-qAt", "-c", query], check=True, capture_output=True,
                          text=True).stdout.strip()


def register(srv, prefix, n):
    st, body, _, _ = srv.request("POST", V2 + "/sources/bulk", {"items": [
        {"project_module": MODULE, "source_identifier": f"{prefix}{i}", "enabled": True} for i in range(n)]})
    assert st == 200, (st, body)
    st, body, _, _ = srv.request("POST", V2 + "/sources/discover", {
        "project_module": MODULE, "source_identifiers": [f"{prefix}{i}" for i in range(n)]})
    assert st in (200, 202), (st, body)


def discovery_settled():
    """Every discovery job ended, each with exactly one outcome event."""
    open_jobs = int(sql("SELECT count(*) FROM jobs WHERE kind = 'discover_source' "
                        "AND status IN ('queued', 'running')"))
    return open_jobs == 0


def claims_by(owner, after=None):
    cond = f" AND at > '{after}'" if after else ""
    return int(sql(f"SELECT count(*) FROM job_claim_history WHERE owner = '{owner}' "
                   f"AND action IN ('claimed', 'recovered'){cond}"))


a = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_WORKER_POOL="blue", BEAMPIPE_WORKER_INSTANCE_NAME="alpha"))
b = None
try:
    a.wait_ready()
    me = a.request("GET", V2 + "/ready")[1]["node"]
    A = me["id"]
    c.eq("/ready names this node, not drained", me["draining"], False)

    # --- the registry, by heartbeats
    st, page, _, _ = a.request("GET", V2 + "/workers")
    c.eq("one worker: this node", (st, page["total"], [w["id"] for w in page["items"]]), (200, 1, [A]))
    w = page["items"][0]
    c.eq("as its settings and heartbeat say",
         (w["pool"], w["instance_name"], w["status"], w["health"], w["registered_by"], w["role"]),
         ("blue", "alpha", "active", "healthy", "node", "api,workers"))
    c.true("its capabilities are the work it claims",
           {"discover_source", "execute", "scheduler"} <= set(w["capabilities"]))
    c.eq("one worker by id", a.request("GET", f"{V2}/workers/{A}")[1]["id"], A)
    c.eq("an unknown worker is 404", a.request("GET", V2 + "/workers/nobody")[0], 404)
    st, pools, _, _ = a.request("GET", V2 + "/workers/pools")
    c.eq("pools", [(p["pool"], p["active_workers"], p["draining_workers"]) for p in pools["items"]],
         [("blue", 1, 0)])
    c.eq("filters", (a.request("GET", V2 + "/workers?pool=red")[1]["total"],
                     a.request("GET", V2 + "/workers?status=draining")[1]["total"],
                     a.request("GET", V2 + "/workers?status=sleeping")[0]), (0, 0, 400))

    # --- registrations through the API (superuser) and their beats
    ext = {"worker_id": "ext-1", "host": "hpc-login", "process_id": 42, "pool": "hpc",
           "capabilities": ["execute"], "labels": {"site": "pawsey"}, "concurrency_limit": 8}
    for what, body, field in [("host is required", {"worker_id": "x"}, "host"),
                              ("pool is a short name", dict(ext, pool="two words"), "pool"),
                              ("labels are flat", dict(ext, labels={"a": {"b": "c"}}), "labels.a"),
                              ("no NUL", dict(ext, instance_name="a\u0000b"), "instance_name"),
                              ("no unknown field", dict(ext, color="red"), "color"),
                              ("concurrency in range", dict(ext, concurrency_limit=0), "concurrency_limit")]:
        st, err, _, _ = a.request("POST", V2 + "/workers", body)
        c.eq("registration refused: " + what, (st, err.get("field")), (400, field))
    c.eq("nothing registered by refusals", a.request("GET", V2 + "/workers")[1]["total"], 1)
    st, row, _, _ = a.request("POST", V2 + "/workers", ext)
    c.eq("registered", (st, row["id"], row["registered_by"], row["labels"], row["concurrency_limit"]),
         (201, "ext-1", "api", {"site": "pawsey"}, 8))
    c.eq("registering again refreshes", a.request("POST", V2 + "/workers", ext)[0], 200)
    st, err, _, _ = a.request("POST", V2 + "/workers", dict(ext, worker_id=A))
    c.eq("a running node's id is not taken over", (st, err.get("code")), (409, "worker_exists"))
    st, beat, _, _ = a.request("POST", V2 + "/workers/ext-1/heartbeat")
    c.eq("a registered worker's beat", (st, beat["worker_id"], beat["accepted"]), (200, "ext-1", True))
    c.eq("an unknown worker's beat", a.request("POST", V2 + "/workers/nobody/heartbeat")[0], 404)
    c.eq("a node beats on its own", a.request("POST", f"{V2}/workers/{A}/heartbeat")[0], 409)
    c.eq("/ready counts beampipe processes only, not API-registered workers",
         [n["node_id"] for n in a.request("GET", V2 + "/ready")[1]["nodes"]], [A])

    create_user(db, "plainop", "plain-operator-password")
    plain = a.login("plainop", "plain-operator-password")["access_token"]
    as_plain = {"Authorization": "Bearer " + plain}
    c.eq("a plain user reads workers", a.request("GET", V2 + "/workers", headers=as_plain)[0], 200)
    c.eq("a plain user may beat", a.request("POST", V2 + "/workers/ext-1/heartbeat", headers=as_plain)[0], 200)
    c.eq("but not register", a.request("POST", V2 + "/workers", ext, headers=as_plain)[0], 403)
    c.eq("nor drain", a.request("POST", f"{V2}/workers/{A}/drain", headers=as_plain)[0], 403)
    c.eq("draining an unknown worker is 404", a.request("POST", V2 + "/workers/nobody/drain")[0], 404)
    c.eq("a drain reason is bounded", a.request("POST", V2 + "/workers/ext-1/drain", {"reason": "x" * 1001})[0],
         400)

    # --- leases, and the claim gate itself: a lease held by ext-1, then ext-1 drained
    job = sql("SELECT gen_random_uuid()")
    c.eq("ext-1 claims a job", sql(f"SELECT token FROM claim_job('{job}', 'execute', 1, 'ext-1', 600)"), "1")
    st, leases, _, _ = a.request("GET", V2 + "/workers/leases?worker_id=ext-1")
    c.eq("its lease is listed", [(x["job_id"], x["kind"], x["claim_id"], x["pool"]) for x in leases["items"]],
         [(job, "execute", 1, "hpc")])
    c.eq("and counted", a.request("GET", V2 + "/workers/ext-1")[1]["active_leases"], 1)
    st, row, _, _ = a.request("POST", V2 + "/workers/ext-1/drain", {"reason": "site maintenance"})
    c.eq("drained", (st, row["status"], row["health"], row["drain_reason"]),
         (200, "draining", "draining", "site maintenance"))
    job2 = sql("SELECT gen_random_uuid()")
    c.eq("a drained worker's claim is refused", sql(f"SELECT count(*) FROM claim_job('{job2}', 'execute', 1, "
                                                    "'ext-1', 600)"), "0")
    c.eq("what it holds it keeps", a.request("GET", V2 + "/workers/ext-1")[1]["active_leases"], 1)
    st, row, _, _ = a.request("POST", V2 + "/workers/ext-1/drain")
    c.eq("draining again records nothing", (st, row["status"],
                                            sql("SELECT count(*) FROM events WHERE event_type = 'WorkerDrained'")),
         (200, "draining", "1"))
    st, row, _, _ = a.request("POST", V2 + "/workers/ext-1/resume")
    c.eq("resumed", (st, row["status"], row["drain_reason"]), (200, "active", None))
    c.eq("and claims again", sql(f"SELECT token FROM claim_job('{job2}', 'execute', 1, 'ext-1', 600)"), "1")

    # --- drain a node under load
    upload_config(a, wallaby_config())
    wait_for("A leads the scheduler", lambda: a.request("GET", V2 + "/ready")[1]["scheduler"]["leader"] == A,
             srv=a)
    register(a, "LOAD", 150)
    st, row, _, _ = a.request("POST", f"{V2}/workers/{A}/drain", {"reason": "upgrade"})
    c.eq("the node is drained", (st, row["status"], row["drain_reason"]), (200, "draining", "upgrade"))
    drained_at = sql("SELECT clock_timestamp()")
    c.true("drained_by names the operator", (row["drained_by"] or "").startswith("user:"))
    wait_for("/ready says so", lambda: a.request("GET", V2 + "/ready")[1]["node"]["draining"], srv=a)
    ready = a.request("GET", V2 + "/ready")[1]
    c.eq("and lists it drained, not among the workers that take work",
         ([n["draining"] for n in ready["nodes"] if n["node_id"] == A], ready["workers_draining"]), ([True], 1))
    wait_for("the drained node gives up the scheduler lead",
             lambda: a.request("GET", V2 + "/ready")[1]["scheduler"]["leader"] is None, srv=a)
    # Work requested after the drain: only another node may take it.
    register(a, "AFTER", 40)
    wait_for("what A held is finished", lambda: a.request("GET", V2 + "/workers/leases?worker_id=" + A)[1]["total"] == 0,
             srv=a)
    b = Server(conninfo=db, extra_env=ENV)
    b.wait_ready()
    B = b.request("GET", V2 + "/ready")[1]["node"]["id"]
    wait_for("every discovery ends", discovery_settled, timeout=120, srv=a)
    c.eq("no claim by the drained node after its drain answered", claims_by(A, drained_at), 0)
    c.true("the other node took the work requested after the drain", claims_by(B, drained_at) >= 40)
    jobs = int(sql("SELECT count(*) FROM jobs WHERE kind = 'discover_source'"))
    outcomes = int(sql("SELECT count(*) FROM events WHERE event_type IN ('DiscoveryCompleted', 'DiscoveryFailed')"))
    c.eq("no job lost or done twice: one outcome per discovery job", (jobs >= 190, outcomes), (True, jobs))
    wait_for("B leads the scheduler", lambda: a.request("GET", V2 + "/ready")[1]["scheduler"]["leader"] == B,
             srv=a)

    # --- resume: with B gone, A alone must take new work
    b.stop()
    b = None
    st, row, _, _ = a.request("POST", f"{V2}/workers/{A}/resume")
    c.eq("the node is resumed", (st, row["status"], row["health"]), (200, "active", "healthy"))
    resumed_at = sql("SELECT clock_timestamp()")
    register(a, "RESUMED", 10)
    wait_for("every discovery ends", discovery_settled, timeout=120, srv=a)
    c.true("the resumed node claims again", claims_by(A, resumed_at) >= 10)
    wait_for("/ready says it is back", lambda: not a.request("GET", V2 + "/ready")[1]["node"]["draining"], srv=a)
    c.eq("drain and resume are events, one each time the state changed",
         sql("SELECT string_agg(event_type, ',' ORDER BY position) FROM events WHERE event_type LIKE 'Worker%'"),
         "WorkerDrained,WorkerResumed,WorkerDrained,WorkerResumed")
finally:
    a.stop()
    if b:
        b.stop()
c.finish()
