"""What the cluster tests (and bench/bench_cluster.py) share: where a stream's shard is, and what
a node's GET /api/v2/cluster says."""
import json
import subprocess

from harness import V2

PSQL = "/usr/lib/postgresql/15/bin/psql"


def shard_of(stream, shards):
    """FNV-1a 64 of the stream id, modulo the shard count (domain/cluster.cpp)."""
    h = 14695981039346656037
    for ch in stream.encode():
        h ^= ch
        h = (h * 1099511628211) % 2 ** 64
    return h % shards


def view(srv):
    return srv.request("GET", V2 + "/cluster")[1]


def owners(srv):
    """Every live lease: shard -> owner."""
    return {lease["shard"]: lease["owner"] for lease in view(srv)["leases"] if lease["live"]}


def held_by(srv):
    """Live leases counted by owner: {node: shards}."""
    out = {}
    for owner in owners(srv).values():
        out[owner] = out.get(owner, 0) + 1
    return out


def spread(srv):
    """The members and the shards each holds, as this node routes by them."""
    return {m["node"]: m["shards_held"] for m in view(srv)["members"]}


def psql_json(db, query):
    """The JSON a query answers, read with psql."""
    r = subprocess.run([PSQL, db, "-Atc", query], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def replay_verifies(db):
    """`beampipe replay --verify` on the database: True when every read model rebuilds equal."""
    import os
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "replay", "--verify"],
                       env=dict(os.environ, DATABASE_URL=db), capture_output=True, text=True, timeout=300)
    return r.returncode == 0


def stop_all(servers):
    """Stops every started server, waking a paused one first."""
    import signal
    for s in servers:
        if s:
            try:
                s.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            s.stop()
