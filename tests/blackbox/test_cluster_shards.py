"""Clustered nodes hold shards under leases (issue #23): with
BEAMPIPE_CLUSTER_BIND_ADDR set, nodes sharing a PostgreSQL find each other there, spread the
shards evenly and move them when one joins, pauses past its lease (SIGSTOP), dies (SIGKILL) or
leaves gracefully (its shards free at once). A node appends only to streams of its own shards;
a command arriving elsewhere is forwarded over CAF to the owner's registry. A paused former
owner is fenced (its shards taken with new tokens; the store refuses its old ones). GET /cluster and /ready show it all,
and replay --verify passes at the end."""
import os
import signal

from cluster import held_by, replay_verifies, spread, stop_all
from cluster import view as cluster_view
from harness import V2, Checks, Server, fresh_database, free_port, wait_for

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
    return cluster_view(srv)


def settled(*nodes, want):
    """Every node's own view (what it routes by) shows the spread `want` {node: shards}."""
    return all(spread(n) == want for n in nodes)


def register(srv, ident):
    st, body, hdrs, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                               "source_identifier": ident})
    return st, body, hdrs


a = node("node-a")
b = None
others = []
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
           wait_for("an even spread", lambda: held_by(a) == {"node-a": 8, "node-b": 8}, timeout=30))
    c.true("both nodes route by it", wait_for("both views settled", lambda: settled(
        a, b, want={"node-a": 8, "node-b": 8}), timeout=30))
    view = cluster(b)
    c.eq("both members are listed with their addresses",
         sorted((m["node"], m["shards_held"]) for m in view["members"]), [("node-a", 8), ("node-b", 8)])
    before = {lease["shard"]: (lease["owner"], lease["token"]) for lease in view["leases"]}

    # Commands reach the owner whichever node they arrive at: forwarded over CAF to the member
    # holding the stream's shard, with the owner's typed answer.
    answers = []
    for i in range(20):
        st, body, _ = register(a if i % 2 else b, f"CLUSTER_{i:02d}")
        answers.append(st)
        if st != 200:
            print("refused:", body)
    c.eq("every source registered, through either node", answers, [200] * 20)
    st, rows, _, _ = a.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=100")
    c.eq("each once", sorted(r["source_identifier"] for r in rows), [f"CLUSTER_{i:02d}" for i in range(20)])
    feed = a.request("GET", V2 + "/events?limit=1000")[1]["events"]
    writers = {e["data"].get("source_identifier"): e["metadata"].get("node") for e in feed
               if e["type"] == "SourceRegistered"}
    c.eq("each written by one of the members", set(writers.values()), {"node-a", "node-b"})
    forwarded = [int(line.split()[-1]) for srv in (a, b)
                 for line in srv.request("GET", V2 + "/metrics")[3].splitlines()
                 if line.startswith("beampipe_cluster_forwarded_commands_total ")]
    c.true(f"and forwarded where they arrived at the other ({forwarded})", len(forwarded) == 2 and all(forwarded))
    st, body, _ = register(a, "CLUSTER_00")
    c.eq("a forwarded command's refusal is the owner's typed answer", st, 200)

    # node-b pauses past its lease: node-a takes every shard; node-b, woken, is fenced.
    b.proc.send_signal(signal.SIGSTOP)
    c.true("a paused member's shards are taken over",
           wait_for("node-a holds all", lambda: held_by(a) == {"node-a": SHARDS}, timeout=30))
    view = cluster(a)
    moved = [lease for lease in view["leases"] if before[lease["shard"]][0] == "node-b"]
    c.true(f"with new fencing tokens ({len(moved)} shards moved)",
           len(moved) == 8 and all(lease["token"] > before[lease["shard"]][1] for lease in moved))
    # A node joins while node-b is still frozen: connecting to the frozen peer gives up at its
    # deadline, the newcomer starts and takes its share from the live members.
    n3 = node("node-c")
    others.append(n3)
    n3.token = token
    n3.wait_ready()
    c.true("a node joins while a member is frozen, and the live two share the shards",
           wait_for("a and c share", lambda: held_by(a) == {"node-a": 8, "node-c": 8}, timeout=30))
    b.proc.send_signal(signal.SIGCONT)
    c.true("the woken former owner notices its shards were taken and holds nothing stale",
           wait_for("node-b's notice", lambda: any("taken over before this node renewed" in line
                                                    for line in list(b.log)), timeout=30))
    answers = [register(b, f"AFTER_PAUSE_{i}")[0] for i in range(6)]
    c.true(f"commands through it are served by the current owners ({answers})",
           all(st == 200 or st == 503 for st in answers) and answers.count(200) >= 1)
    c.true("it rejoins and three members share the shards",
           wait_for("three-way spread", lambda: held_by(a) == {"node-a": 6, "node-b": 5, "node-c": 5},
                    timeout=30))
    answers = [register(n, f"THREE_{i}")[0] for i, n in enumerate([a, b, n3] * 3)]
    c.eq("commands through any of the three are served", answers, [200] * 9)
    n3.stop()

    # node-b leaves gracefully: its shards are free at once, long before a lease would end.
    b.stop()
    view = cluster(a)
    c.true("a graceful leave frees its shards at once",
           not any(lease["live"] and lease["owner"] == "node-b" for lease in view["leases"]))
    c.true("and the remaining member takes them",
           wait_for("node-a holds all again", lambda: held_by(a) == {"node-a": SHARDS}, timeout=30))

    # A member killed outright: its shards move after the lease runs out.
    b = node("node-b")
    b.token = token
    b.wait_ready()
    wait_for("an even spread", lambda: held_by(a) == {"node-a": 8, "node-b": 8}, timeout=30)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    c.true("a killed member's shards are taken over after its lease",
           wait_for("node-b holds all", lambda: held_by(b) == {"node-b": SHARDS}, timeout=30))
    st, _, _ = register(b, "AFTER_KILL")
    c.true("and written to by the survivor", st in (200, 201))
    metrics = b.request("GET", V2 + "/metrics")[3]
    c.true("metrics: members and shards owned", f"beampipe_cluster_shards_owned {SHARDS}" in metrics and
           "beampipe_cluster_members 1" in metrics)
    b.stop()
    c.true("replay --verify passes", replay_verifies(db))
finally:
    stop_all([a, b] + others)
c.finish()
