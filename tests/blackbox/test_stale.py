"""Automated discovery by the elected scheduler: never-discovered and stale sources of a project
with automation.discovery.enabled are requested (reason "scheduler") in batches under the
§4.1 caps, each tick recorded with what it admitted; disabled sources are not."""
import os
import subprocess
import time

from harness import Checks, Server, fresh_database

REF = os.path.join(os.path.dirname(__file__), "..", "..", "config", "reference")
V2 = "/api/v2"
c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env={"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "",
                                     "BEAMPIPE_SCHEDULER_ENABLED": "true", "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1"})
srv.wait_ready()


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("condition not reached")


def outcomes(uuid):
    # The events (provenance) at least as new as the source row read before (source_registry).
    st, evs, _, _ = srv.read_after(f"{V2}/sources/{uuid}/events")
    return [(e["event_type"], e["payload"].get("reason")) for e in reversed(evs) if e["event_type"].startswith("discovery.")]


try:
    with open(os.path.join(REF, "wallaby_hires.v1.yaml"), "rb") as f:
        srv.request("POST", V2 + "/project-configs", raw_body=f.read(), headers={"Content-Type": "application/yaml"})
    st, on, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                         "source_identifier": "HIPASSJ1313-15", "enabled": True})
    st, off, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                          "source_identifier": "HIPASSJ1318-21", "enabled": False})
    # Never discovered + automated discovery enabled in the config: requested without an operator.
    first = wait_for(lambda: (lambda r: r if r["last_checked_at"] else None)(
        srv.request("GET", f"{V2}/sources/{on['uuid']}")[1]))
    c.eq("automatically discovered", outcomes(on["uuid"]), [("discovery.requested", "scheduler"), ("discovery.changed", None)])
    # Time passes: the data becomes older than stale_after_hours (24 h in the config).
    subprocess.run(["/usr/lib/postgresql/15/bin/psql", db, "-qc",
                    f"UPDATE source_registry SET last_checked_at = now() - interval '25 hours' WHERE uuid = '{on['uuid']}'"],
                   check=True, capture_output=True)
    wait_for(lambda: len(outcomes(on["uuid"])) >= 4)
    c.eq("stale data is queried again", outcomes(on["uuid"])[2:],
         [("discovery.requested", "scheduler"), ("discovery.unchanged", None)])
    st, row_off, _, _ = srv.request("GET", f"{V2}/sources/{off['uuid']}")
    c.eq("disabled sources are never admitted", (row_off["last_checked_at"], outcomes(off["uuid"])), (None, []))
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    admitted = [e["data"]["discovery"]["wallaby_hires"] for e in feed["events"] if e["type"] == "SchedulerTicked"
                and "wallaby_hires" in e["data"]["discovery"]]
    c.true("ticks record what they admitted", any(a["sources"] == 1 and a["batches"] == 1 for a in admitted))
    st, ready, _, _ = srv.request("GET", V2 + "/ready")
    c.true("the single process leads the scheduler", ready["scheduler"]["leader"] is not None)
finally:
    srv.stop()
c.finish()
