"""1,000 sources under the discovery caps: the scheduler admits them in batches, and the event
history shows that at no position were more batches in flight than
BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES, and that every request got exactly one answer."""
import time

from harness import Checks, Server, fresh_database, upload_config, wallaby_config

V2 = "/api/v2"
CAP = 3
c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env={"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "",
                                     "BEAMPIPE_SCHEDULER_ENABLED": "true", "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1",
                                     "BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES": str(CAP)})
srv.wait_ready()


def all_events():
    events, after = [], 0
    while True:
        st, feed, _, _ = srv.request("GET", f"{V2}/events?limit=1000&after={after}")
        events += feed["events"]
        if len(feed["events"]) < 1000:
            return events
        after = feed["next_after"]


try:
    # Execution automation off: this test is about discovery admission only.
    upload_config(srv, wallaby_config().replace("  execution:\n    enabled: true", "  execution:\n    enabled: false"))
    st, body, _, _ = srv.request("POST", V2 + "/sources/bulk", {"items": [
        {"project_module": "wallaby_hires", "source_identifier": f"HIPASSJ{i:04d}-00", "enabled": True}
        for i in range(1000)]})
    c.eq("registered", (st, body["total"]), (200, 1000))
    deadline = time.time() + 240
    while time.time() < deadline:
        st, page, _, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=500&offset=0")
        st, page2, _, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=500&offset=500")
        if all(r["last_checked_at"] for r in page + page2):
            break
        time.sleep(0.5)
    c.true("every source discovered by the scheduler alone", all(r["last_checked_at"] for r in page + page2))
    outstanding, peak = {}, 0  # claim token -> sources still waiting
    requests, answers = {}, {}
    for e in all_events():
        d = e["data"]
        if e["type"] == "DiscoveryRequested":
            requests[d["request_id"]] = requests.get(d["request_id"], 0) + 1
            if d.get("claim_token"):
                outstanding.setdefault(d["claim_token"], set()).add(e["stream_id"])
        elif e["type"] in ("DiscoveryCompleted", "DiscoveryFailed"):
            answers[d["request_id"]] = answers.get(d["request_id"], 0) + 1
            for token, waiting in list(outstanding.items()):
                waiting.discard(e["stream_id"])
                if not waiting:
                    del outstanding[token]
        peak = max(peak, len(outstanding))
    c.true(f"never more than {CAP} batches in flight (peak {peak})", 0 < peak <= CAP)
    multi = [k for k, v in answers.items() if v != 1]
    if multi:
        import json
        with open("/tmp/beampipe-caps-events.json", "w") as f:
            json.dump(all_events(), f)
    c.eq("every request answered exactly once", (set(requests) == set(answers), multi[:3]), (True, []))
    c.eq("one request per source", len(requests), 1000)
finally:
    srv.stop()
c.finish()
