"""Clustered nodes hold shards under leases (issue #23, first part): with
BEAMPIPE_CLUSTER_BIND_ADDR set, nodes sharing a PostgreSQL find each other there, spread the
shards evenly and move them when one joins, pauses past its lease (SIGSTOP), dies (SIGKILL) or
leaves gracefully (its shards free at once). A node appends only to streams of its own shards;
another's get 503 with Retry-After and shard_moved (forwarding to the owner is the next part).
A paused former owner is fenced: its writes are refused. GET /cluster and /ready show it all,
and replay --verify passes at the end."""
import os
import signal
import subprocess
import time

from harness import V2, Checks, Server, fresh_database, free_port, wait_for

BIN = os.environ["BEAMPIPE_BIN"]
SHARDS = 16
c = Checks()
db = fresh_database()


def node(name):
    return Server(conninfo=db, extra_env={
        "BEAMPIPE_NODE_ID": name, "BEAMPIPE_CLUSTER_BIND_ADDR": f"127.0.0.1:{free_port()}",
        "BEAMPIPE_CLUSTER_SHARDS": str(SHARDS), "BEAMPIPE_CLUSTER_LEASE_SECONDS": "2",
        "BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS": "1",
        "BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": ""})


def cluster(srv):
    return srv.request("GET", V2 + "/cluster")[1]


def held_by(view):
    out = {}
    for lease in view["leases"]:
        if lease["live"]:
            out[lease["owner"]] = out.get(lease["owner"], 0) + 1
    return out


def register(srv, ident):
    st, body, hdrs, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                               "source_identifier": ident})
    return st, body, hdrs


a = node("node-a")
b = None
try:
    a.wait_ready()
    view = cluster(a)
    c.eq("a clustered node says so", (view["mode"], view["shards"], len(view["held"])), ("cluster", SHARDS, SHARDS))
    c.eq("/ready sums it up", a.request("GET", V2 + "/ready")[1]["cluster"]["shards_held"], SHARDS)
    token = a.token  # signed in while node-a holds every stream

    b = node("node-b")
    b.token = token  # the same signing secret: a token from one node works on the other
    b.wait_ready()
    c.true("the shards spread evenly over two members",
           wait_for("an even spread", lambda: held_by(cluster(a)) == {"node-a": 8, "node-b": 8}, timeout=30))
    view = cluster(b)
    c.eq("both members are listed with their addresses",
         sorted((m["node"], m["shards_held"]) for m in view["members"]), [("node-a", 8), ("node-b", 8)])
    before = {lease["shard"]: (lease["owner"], lease["token"]) for lease in view["leases"]}

    # Each source goes in on the node holding its shard; the other answers 503 + Retry-After.
    placed, refused_right = 0, 0
    for i in range(20):
        ident = f"CLUSTER_{i:02d}"
        st, body, hdrs = register(a, ident)
        if st in (200, 201):
            placed += 1
            continue
        refused_right += st == 503 and body.get("code") == "shard_moved" and "Retry-After" in hdrs
        st, body, hdrs = register(b, ident)
        placed += st in (200, 201)
    c.eq("every source registered on its shard's node", placed, 20)
    c.true(f"the other node refused with 503, shard_moved and Retry-After ({refused_right})", refused_right >= 3)
    st, rows, _, _ = a.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=100")
    c.eq("each once", sorted(r["source_identifier"] for r in rows), [f"CLUSTER_{i:02d}" for i in range(20)])

    # node-b pauses past its lease: node-a takes every shard; node-b, woken, is fenced.
    b.proc.send_signal(signal.SIGSTOP)
    c.true("a paused member's shards are taken over",
           wait_for("node-a holds all", lambda: held_by(cluster(a)) == {"node-a": SHARDS}, timeout=30))
    view = cluster(a)
    moved = [lease for lease in view["leases"] if before[lease["shard"]][0] == "node-b"]
    c.true(f"with new fencing tokens ({len(moved)} shards moved)",
           len(moved) == 8 and all(lease["token"] > before[lease["shard"]][1] for lease in moved))
    b.proc.send_signal(signal.SIGCONT)
    refused = [register(b, f"AFTER_PAUSE_{i}")[0] for i in range(6)]
    st, rows, _, _ = a.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=100")
    written = sorted(r["source_identifier"] for r in rows if r["source_identifier"].startswith("AFTER_PAUSE"))
    c.true(f"the woken former owner wrote only what it held again ({refused}, {written})",
           len(written) == sum(st in (200, 201) for st in refused) and 503 in refused)
    c.true("it rejoins and gets its share again",
           wait_for("an even spread again", lambda: held_by(cluster(a)) == {"node-a": 8, "node-b": 8}, timeout=30))

    # node-b leaves gracefully: its shards are free at once, long before a lease would end.
    b.stop()
    view = cluster(a)
    c.true("a graceful leave frees its shards at once",
           not any(lease["live"] and lease["owner"] == "node-b" for lease in view["leases"]))
    c.true("and the remaining member takes them",
           wait_for("node-a holds all again", lambda: held_by(cluster(a)) == {"node-a": SHARDS}, timeout=30))

    # A member killed outright: its shards move after the lease runs out.
    b = node("node-b")
    b.token = token
    b.wait_ready()
    wait_for("an even spread", lambda: held_by(cluster(a)) == {"node-a": 8, "node-b": 8}, timeout=30)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    c.true("a killed member's shards are taken over after its lease",
           wait_for("node-b holds all", lambda: held_by(cluster(b)) == {"node-b": SHARDS}, timeout=30))
    st, _, _ = register(b, "AFTER_KILL")
    c.true("and written to by the survivor", st in (200, 201))
    metrics = b.request("GET", V2 + "/metrics")[3]
    c.true("metrics: members and shards owned", f"beampipe_cluster_shards_owned {SHARDS}" in metrics and
           "beampipe_cluster_members 1" in metrics)
    b.stop()
    env = dict(os.environ, DATABASE_URL=db)
    r = subprocess.run([BIN, "replay", "--verify"], env=env, capture_output=True, text=True, timeout=300)
    c.eq("replay --verify passes", r.returncode, 0)
finally:
    for s in (a, b):
        if s:
            try:
                s.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            s.stop()
c.finish()
