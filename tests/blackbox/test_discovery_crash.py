"""SIGKILL while the scheduler's discovery batches are running: after a restart the outstanding
requests are picked up again, every source is discovered, and every request has exactly one
answer (DiscoveryCompleted or DiscoveryFailed)."""
import signal
import time

from harness import Checks, Server, fresh_database, upload_config, wallaby_config

V2 = "/api/v2"
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_SCHEDULER_ENABLED": "true",
       "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1", "BEAMPIPE_SCHEDULER_LEASE_MS": "3000"}
c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def events(server):
    out, after = [], 0
    while True:
        st, feed, _, _ = server.request("GET", f"{V2}/events?limit=1000&after={after}")
        out += feed["events"]
        if len(feed["events"]) < 1000:
            return out
        after = feed["next_after"]


def answered(server):
    return sum(1 for e in events(server) if e["type"] in ("DiscoveryCompleted", "DiscoveryFailed"))


try:
    upload_config(srv, wallaby_config().replace("  execution:\n    enabled: true", "  execution:\n    enabled: false"))
    srv.request("POST", V2 + "/sources/bulk", {"items": [
        {"project_module": "wallaby_hires", "source_identifier": f"HIPASSJ{i:04d}-77", "enabled": True}
        for i in range(300)]})
    deadline = time.time() + 120
    while time.time() < deadline and answered(srv) < 30:
        time.sleep(0.05)
    srv.stop(signal.SIGKILL)
    before = srv.proc.returncode
    c.eq("killed mid-way", before, -signal.SIGKILL)
    srv = Server(conninfo=db, extra_env=ENV)
    srv.wait_ready()
    deadline = time.time() + 180
    while time.time() < deadline:
        st, a, _, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=300")
        if len(a) == 300 and all(r["last_checked_at"] for r in a):
            break
        time.sleep(0.25)
    c.true("every source discovered after the restart", len(a) == 300 and all(r["last_checked_at"] for r in a))
    evs = events(srv)
    requests = [e["data"]["request_id"] for e in evs if e["type"] == "DiscoveryRequested"]
    answers = {}
    for e in evs:
        if e["type"] in ("DiscoveryCompleted", "DiscoveryFailed"):
            answers[e["data"]["request_id"]] = answers.get(e["data"]["request_id"], 0) + 1
    c.eq("every request answered exactly once", (sorted(set(requests)) == sorted(answers), set(answers.values())),
         (True, {1}))
    c.eq("no request was issued twice", len(requests), len(set(requests)))
finally:
    srv.stop()
c.finish()
