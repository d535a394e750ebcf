"""Racing creators of executions: two API processes on one database receive many concurrent
POST /executions for a profile that allows one run at a time. In every round exactly one is
created and the rest are refused with the profile's concurrency limit; the event history holds
exactly one ExecutionCreated per round."""
import os
import threading

from harness import (REFERENCE, Checks, Server, create_profile, fresh_database, ready_sources, upload_config,
                     wallaby_config)

V2 = "/api/v2"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false"}
ROUNDS, PER_SERVER = 3, 6
c = Checks()
db = fresh_database()
a = Server(conninfo=db, extra_env=ENV)
a.wait_ready()
b = Server(conninfo=db, extra_env=ENV)
b.wait_ready()


def created_events():
    st, feed, _, _ = a.request("GET", f"{V2}/events?limit=1000")
    return [e for e in feed["events"] if e["type"] == "ExecutionCreated"]


try:
    upload_config(a, wallaby_config(GRAPH).replace("  execution:\n    enabled: true", "  execution:\n    enabled: false"))
    ready_sources(a, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    create_profile(a, "one-at-a-time", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                   max_concurrent_executions=1)
    for rnd in range(ROUNDS):
        results = []
        barrier = threading.Barrier(2 * PER_SERVER)

        def create(srv, i):
            body = {"project_module": "wallaby_hires", "archive_name": "casda",
                    "sources": [{"source_identifier": "HIPASSJ1313-15" if i % 2 else "HIPASSJ1318-21"}]}
            barrier.wait()
            st, row, _, _ = srv.request("POST", V2 + "/executions", body)
            results.append((st, row.get("uuid") if st == 201 else row.get("code")))

        ts = [threading.Thread(target=create, args=(srv, i)) for srv in (a, b) for i in range(PER_SERVER)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        won = [r for st, r in results if st == 201]
        refused = {r for st, r in results if st != 201}
        c.eq(f"round {rnd}: exactly one created", len(won), 1)
        c.eq(f"round {rnd}: the others hit the profile limit", refused, {"profile_concurrency_limit"})
        c.eq(f"round {rnd}: one ExecutionCreated per round so far", len(created_events()), rnd + 1)
        if won:  # free the slot for the next round
            st, _, _, _ = a.request("PATCH", f"{V2}/executions/{won[0]}", {"status": "cancelled"})
            c.true(f"round {rnd}: cancelled", st in (200, 202))
finally:
    a.stop()
    b.stop()
c.finish()
