"""Unattended operation: the elected scheduler discovers the registered sources of a project with
automated discovery and execution, admits executions for the pending ones within the caps
(here one run in flight cluster-wide), and the simulated backends run them to completion. The
event history proves the cap held at every position. The config's automation names the
deployment profile `slurm-remote`: while it does not exist, the ticks refuse admission with an
error naming it (issue #17: runs silently went to the default profile), and once it exists the
runs go to it."""
import os
import tempfile

from harness import (Checks, Server, create_profile, fresh_database, test_graph, upload_config, wait_for,
                     wallaby_config)

V2 = "/api/v2"
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_SCHEDULER_ENABLED": "true",
       "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1", "BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS": "1",
       "BEAMPIPE_SIMULATED_RUN_MS": "1500", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-auto-")
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()
IDENTS = ["HIPASSJ1313-15", "HIPASSJ1318-21"]


def all_events():
    events, after = [], 0
    while True:
        st, feed, _, _ = srv.request("GET", f"{V2}/events?limit=1000&after={after}")
        events += feed["events"]
        if len(feed["events"]) < 1000:
            return events
        after = feed["next_after"]


def execution_ticks():
    return [e["data"].get("execution", {}).get("wallaby_hires", {}) for e in all_events()
            if e["type"] == "SchedulerTicked"]


try:
    config = wallaby_config(test_graph(tmp))
    assert "deployment_profile_name: slurm-remote" in config
    upload_config(srv, config)
    # The default profile exists, the named one does not.
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    ids = {}
    for ident in IDENTS:
        st, row, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                               "source_identifier": ident, "enabled": True})
        ids[ident] = row["uuid"]

    def refused_tick():
        pending = all(srv.request("GET", f"{V2}/sources/{u}")[1]["workflow_run_pending"] for u in ids.values())
        return pending and next((t for t in execution_ticks() if t.get("error")), None)

    refused = wait_for("a tick that refuses admission for the missing profile", refused_tick, timeout=120, srv=srv)
    c.eq("the refusal names the profile and the setting",
         (refused["code"], refused["deployment_profile_name"], refused["reasons"].get("profile_not_found")),
         ("unknown_profile", "slurm-remote", 1))
    c.true("with a readable message", "deployment profile 'slurm-remote'" in refused["error"]
           and "automation.execution.deployment_profile_name" in refused["error"])
    st, page, _, _ = srv.request("GET", V2 + "/executions?project_module=wallaby_hires")
    c.eq("no run went to the default profile instead", page["total"], 0)
    c.true("the refusal is logged", wait_for("the refusal in the log", lambda: any(
        "slurm-remote" in line and "refused" in line for line in list(srv.log)), timeout=10))

    # The named profile appears (not the default): the runs go to it.
    named = create_profile(srv, "slurm-remote", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                                 "deploy_port": 8001}, is_default=False)

    def all_executed():
        rows = [srv.request("GET", f"{V2}/sources/{u}")[1] for u in ids.values()]
        return all(r["last_executed_discovery_signature"] and
                   r["last_executed_discovery_signature"] == r["discovery_signature"] and
                   not r["workflow_run_pending"] for r in rows)

    import time
    deadline = time.time() + 120
    while time.time() < deadline and not all_executed():
        time.sleep(0.2)
    c.true("every source discovered and executed without an operator", all_executed())
    st, page, _, _ = srv.request("GET", V2 + "/executions?project_module=wallaby_hires")
    c.eq("one execution per source (max_sources_per_execution: 1)",
         sorted(i["sources"][0]["source_identifier"] for i in page["items"]), IDENTS)
    c.true("all completed", all(i["status"] == "completed" for i in page["items"]))
    c.true("admission kept in the run record",
           all(i["beampipe_run_record"]["scheduler"]["policy_decision"] == "admitted" for i in page["items"]))
    c.eq("every run on the named profile", {i["deployment_profile_id"] for i in page["items"]}, {named["uuid"]})
    events = all_events()
    in_flight, peak = set(), 0
    for e in events:
        if not e["stream_id"].startswith("execution-"):
            continue
        # A run ends with a terminal fact, or with an observation that reached a terminal status
        # (version 1 payloads said it in their row patch).
        status = e["data"].get("status") or e["data"].get("after", {}).get("status")
        if e["type"] == "ExecutionCreated":
            in_flight.add(e["stream_id"])
        elif e["type"] in ("ExecutionFailed", "ExecutionCancelled", "ExecutionNotSubmitted",
                           "SubmissionAbandoned") or \
                status in ("completed", "failed", "cancelled", "not_submitted"):
            in_flight.discard(e["stream_id"])
        peak = max(peak, len(in_flight))
    c.eq("never more than one run in flight at any position", peak, 1)
    ticks = [e["data"] for e in events if e["type"] == "SchedulerTicked"]
    c.true("a tick was held back by the in-flight cap",
           any(t.get("execution", {}).get("wallaby_hires", {}).get("reasons", {}).get("in_flight_cap") for t in ticks))
    evs = [e["event_type"] for e in srv.request("GET", f"{V2}/executions/{page['items'][0]['uuid']}/events")[1]]
    c.true("automated admission is on the record", "execution.automated_admitted" in evs)

    # Issue #17: a source whose automated run failed is held back from automated admission (a
    # failing config used to be admitted, and staged, again every tick). On a fresh database
    # with a broken graph, the source is discovered and admitted once; its run fails, and the
    # next ticks leave it alone although it is pending.
    srv.stop()
    srv = Server(conninfo=fresh_database(), extra_env=ENV)
    srv.wait_ready()
    broken = os.path.join(tmp, "broken.graph")
    with open(broken, "w") as f:
        f.write("{not a graph")
    upload_config(srv, wallaby_config(broken))
    create_profile(srv, "slurm-remote", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    st, row, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                           "source_identifier": IDENTS[0], "enabled": True})
    source_id = row["uuid"]
    deadline = time.time() + 120
    while True:
        src = srv.request("GET", f"{V2}/sources/{source_id}")[1]
        if src["automation_retry_at"] or time.time() > deadline:
            break
        time.sleep(0.1)
    c.eq("its failed run holds the source back", (src["workflow_run_pending"], src["execution_failures_in_row"],
                                                  src["automation_retry_at"] is not None), (True, 1, True))
    later, finished_at, after = [], None, 0
    while time.time() < deadline + 30:
        feed = srv.request("GET", f"{V2}/events?limit=1000&after={after}")[1]
        later += feed["events"]
        after = feed["next_after"] or after
        if finished_at is None:
            finished_at = next((i for i, e in enumerate(later) if e["type"] == "SourceExecutionFinished"), None)
        if finished_at is not None and sum(1 for e in later[finished_at:] if e["type"] == "SchedulerTicked") >= 3:
            break
        time.sleep(0.2)
    c.eq("one run was admitted", sum(1 for e in later if e["type"] == "ExecutionCreated"), 1)
    later = later[finished_at:] if finished_at is not None else []
    c.true("three ticks passed after the failure", sum(1 for e in later if e["type"] == "SchedulerTicked") >= 3)
    c.eq("and none admitted it again", [e["stream_id"] for e in later if e["type"] == "ExecutionCreated"], [])
except Exception:
    print("\n".join(list(srv.log)[-40:]))
    raise
finally:
    srv.stop()
c.finish()
