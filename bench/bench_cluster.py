#!/usr/bin/env python3
"""Clustered nodes (issue #23) against one node, on this machine (two cores: the three nodes, the
clients and PostgreSQL share them, so the ratio says what clustering costs here, not what three
machines would give).

- Throughput: 16 client threads register sources (POST /api/v2/sources, one command each) for a
  fixed time through one unclustered node (the baseline), then round-robin through three
  clustered nodes sharing one PostgreSQL: commands/s and p99 latency of each, and their ratios.
- Forwarding overhead: on the three-node cluster, one client switches a source off and on
  (PATCH, one event each) through node-a, first a source whose shard node-a holds (local), then
  one whose shard another member holds (forwarded over CAF): mean and p99 of each, and the ratio.

Prints RESULT lines (as the other benches do) and RATIO lines.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))
import harness  # noqa: E402
from cluster import shard_of  # noqa: E402

SHARDS = 64


def result(name, metric, value, unit):
    print(f"RESULT\t{name}\t{metric}\t{value}\t{unit}", flush=True)


def call(port, token, method, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request(method, path, body=json.dumps(body).encode(),
                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    return resp.status, time.perf_counter() - t0, text


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else float("nan")


def load(ports, token, seconds, clients, tag):
    """Registers sources from `clients` threads, round-robin over `ports`, for `seconds`."""
    lat, errors = [], [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(n):
        i = 0
        while time.perf_counter() < stop:
            i += 1
            port = ports[(n + i) % len(ports)]
            st, secs, _ = call(port, token, "POST", harness.V2 + "/sources",
                               {"project_module": "wallaby_hires", "source_identifier": f"{tag}_{n}_{i:06d}"})
            with lock:
                if st == 200:
                    lat.append(secs)
                else:
                    errors[0] += 1
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat) / (time.perf_counter() - t0), p99(lat), errors[0]


def node(db, name=None):
    env = {"BEAMPIPE_RATE_LIMIT_REQUESTS": "0", "BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": ""}
    if name:
        env.update({"BEAMPIPE_NODE_ID": name, "BEAMPIPE_CLUSTER_BIND_ADDR": f"127.0.0.1:{harness.free_port()}",
                    "BEAMPIPE_CLUSTER_SHARDS": str(SHARDS)})
    return harness.Server(conninfo=db, extra_env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "beampipe"))
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--toggles", type=int, default=400)
    a = ap.parse_args()
    os.environ["BEAMPIPE_BIN"] = a.bin

    single = node(harness.fresh_database())
    try:
        single.wait_ready()
        load([single.port], single.token, 2, a.clients, "WARM")
        one_rate, one_p99, one_err = load([single.port], single.token, a.seconds, a.clients, "ONE")
    finally:
        single.stop()
    result("cluster", "one_node_commands_per_s", f"{one_rate:.0f}", "commands/s")
    result("cluster", "one_node_p99_s", f"{one_p99:.4f}", "s")

    db = harness.fresh_database()
    nodes = []
    try:
        for name in ("node-a", "node-b", "node-c"):
            nodes.append(node(db, name))
        for n in nodes:
            n.wait_ready()
        token = nodes[0].token
        deadline = time.time() + 60
        while time.time() < deadline:
            views = [{m["node"]: m["shards_held"] for m in n.request("GET", harness.V2 + "/cluster")[1]["members"]}
                     for n in nodes]
            if all(sorted(v.values()) == [21, 21, 22] for v in views):
                break
            time.sleep(0.2)
        ports = [n.port for n in nodes]
        load(ports, token, 2, a.clients, "WARM")
        three_rate, three_p99, three_err = load(ports, token, a.seconds, a.clients, "THREE")
        result("cluster", "three_nodes_commands_per_s", f"{three_rate:.0f}", "commands/s")
        result("cluster", "three_nodes_p99_s", f"{three_p99:.4f}", "s")
        print(f"RATIO three nodes / one node: {three_rate / one_rate:.2f}x commands/s, "
              f"p99 {three_p99 / one_p99:.2f}x  (refused: {one_err} / {three_err})", flush=True)

        # Forwarding: a source node-a holds and one another member holds, toggled through node-a.
        owners = {lease["shard"]: lease["owner"]
                  for lease in nodes[0].request("GET", harness.V2 + "/cluster")[1]["leases"] if lease["live"]}
        picked = {}
        i = 0
        while len(picked) < 2:
            i += 1
            st, row, _, _ = nodes[0].request("POST", harness.V2 + "/sources", {
                "project_module": "wallaby_hires", "source_identifier": f"FWD_{i:05d}"})
            local = owners[shard_of("source-" + row["uuid"], SHARDS)] == "node-a"
            picked.setdefault("local" if local else "forwarded", (row["uuid"], row["enabled"]))
        means = {}
        for kind, (uuid, enabled) in picked.items():
            lat = []
            for _ in range(a.toggles):
                enabled = not enabled
                st, secs, _ = call(nodes[0].port, token, "PATCH", f"{harness.V2}/sources/{uuid}", {"enabled": enabled})
                if st == 200:
                    lat.append(secs)
            means[kind] = sum(lat) / len(lat)
            result("cluster", f"{kind}_command_mean_s", f"{means[kind]:.5f}", "s")
            result("cluster", f"{kind}_command_p99_s", f"{p99(lat):.5f}", "s")
        print(f"RATIO forwarded / local command through one node: {means['forwarded'] / means['local']:.2f}x mean "
              f"(+{(means['forwarded'] - means['local']) * 1000:.2f} ms)", flush=True)
    finally:
        for n in nodes:
            n.stop()


if __name__ == "__main__":
    main()
