"""Discovery end to end through the API on the simulated archive (the default when no TAP URL
is configured): request, outcome, read models, rediscovery, failures."""
import os
import time

from harness import Checks, Server, create_profile, latest_discovery_outcome

REF = os.path.join(os.path.dirname(__file__), "..", "..", "config", "reference")
c = Checks()
srv = Server(extra_env={"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0"})
ready = srv.wait_ready()
c.eq("/ready says the archive is simulated", ready["archive"], "simulated")
V2 = "/api/v2"


def post(path, body):
    return srv.request("POST", V2 + path, body)


def settle(uuids, timeout=60):
    """Waits (bounded) until no source in uuids has an outstanding discovery request."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = [srv.request("GET", f"{V2}/sources/{u}")[1] for u in uuids]
        if all(r["discovery_request_id"] is None for r in rows):
            return {r["uuid"]: r for r in rows}
        time.sleep(0.05)
    raise RuntimeError("discovery did not settle")


try:
    with open(os.path.join(REF, "wallaby_hires.v1.yaml"), "rb") as f:
        st, _, _, _ = srv.request("POST", V2 + "/project-configs", raw_body=f.read(),
                                  headers={"Content-Type": "application/yaml"})
    c.eq("config uploaded", st, 201)
    ids = {}
    for ident, enabled in [("HIPASSJ1313-15", True), ("HIPASSJ1318-21", True), ("HIPASSJ9999-99", True),
                           ("HIPASSJ1337-29", False)]:
        st, row, _, _ = post("/sources", {"project_module": "wallaby_hires", "source_identifier": ident,
                                          "enabled": enabled})
        ids[ident] = row["uuid"]

    # Neither identifier nor list: every enabled source of the module.
    st, body, _, _ = post("/sources/discover", {"project_module": "wallaby_hires"})
    c.eq("discover all enabled", (st, body["marked_count"]), (200, 3))
    rows = settle(list(ids.values()))
    a = rows[ids["HIPASSJ1313-15"]]
    c.eq("signature of HIPASSJ1313-15 (golden)", a["discovery_signature"],
         "9b300d4ef1522b31b4fc777148106be5de03ce643d8843b7743907b32edacbb3")
    c.eq("changed + ready makes it pending", a["workflow_run_pending"], True)
    c.true("last_checked_at set", a["last_checked_at"] is not None)
    st, md, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1313-15']}/metadata")
    c.eq("one SBID stored", [(m["sbid"]) for m in md["metadata"]], ["12346"])
    ds = md["metadata"][0]["metadata_json"]["datasets"]
    c.eq("five beams", len(ds), 5)
    c.eq("scan ids from the publisher DID", sorted(d["scan_id"] for d in ds),
         ["879950", "879951", "879952", "879953", "879954"])
    c.true("full records kept (access_url)", all("access_url" in d for d in ds))
    flags = md["metadata"][0]["metadata_json"]["discovery_flags"]
    c.eq("flags from the HIPASS catalogue", (flags["ra_dec_vsys_complete"], flags["vsys"]), (True, 1405.6))
    b = rows[ids["HIPASSJ1318-21"]]
    st, md2, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1318-21']}/metadata")
    c.eq("HIPASSJ1318-21 latest SBID", [m["sbid"] for m in md2["metadata"]], ["22211"])
    z = rows[ids["HIPASSJ9999-99"]]
    c.true("no datasets signature (spec golden f57cea7a…771c5f)",
           z["discovery_signature"].startswith("f57cea7a") and z["discovery_signature"].endswith("771c5f"))
    c.eq("no datasets is not pending", z["workflow_run_pending"], False)
    st, mdz, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ9999-99']}/metadata")
    c.eq("no-datasets marker row", [(m["sbid"], m["metadata_json"].get("discovery_status")) for m in mdz["metadata"]],
         [("0", "no_datasets")])

    # Rediscovery of unchanged data records unchanged, and does not (re)set pending.
    st, body, _, _ = post("/sources/discover", {"project_module": "wallaby_hires", "source_identifier": "HIPASSJ1313-15"})
    c.eq("rediscover one", (st, body["marked_count"]), (200, 1))
    settle([ids["HIPASSJ1313-15"]])
    st, evs, _, _ = srv.read_after(f"{V2}/sources/{ids['HIPASSJ1313-15']}/events")
    kinds = [e["event_type"] for e in evs if e["event_type"].startswith("discovery.")]
    c.eq("outcomes in order (newest first)", kinds,
         ["discovery.unchanged", "discovery.requested", "discovery.changed", "discovery.requested"])
    unchanged = latest_discovery_outcome(evs)
    c.eq("unchanged is never pending", (unchanged["event_type"], unchanged["payload"]["workflow_run_pending"]),
         ("discovery.unchanged", False))
    # Each request got exactly one outcome, correlated by its request id.
    req_ids = [e["correlation_id"] for e in evs if e["event_type"] == "discovery.requested"]
    out_ids = [e["correlation_id"] for e in evs if e["event_type"] in ("discovery.changed", "discovery.unchanged")]
    c.eq("one outcome per request", sorted(req_ids), sorted(out_ids))

    # Readiness for execution
    st, s1, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1313-15']}/status")
    c.eq("discovered source is ready", (st, s1["ready_for_execution"], s1["blockers"], s1["discovery_complete"]),
         (200, True, [], True))
    c.true("pending age reported", isinstance(s1["pending_age_seconds"], int))
    st, s2, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1337-29']}/status")
    c.eq("disabled, undiscovered source blockers", s2["blockers"], sorted([
        "Source HIPASSJ1337-29 is disabled"]))
    c.eq("not ready", s2["ready_for_execution"], False)

    # Filters
    st, rows_p, _, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&pending=true")
    c.eq("pending filter", sorted(r["source_identifier"] for r in rows_p), ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    st, rows_n, _, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&discovery_state=never")
    c.eq("never discovered", [r["source_identifier"] for r in rows_n], ["HIPASSJ1337-29"])
    c.eq("bad state filter", srv.request("GET", V2 + "/sources?discovery_state=odd")[0], 400)

    # Identifiers with quotes, backslashes and non-ASCII go through discovery intact.
    odd = "HIPASSJ1313-15' OR '1'='1 \\ é✓"
    st, orow, _, _ = post("/sources", {"project_module": "wallaby_hires", "source_identifier": odd, "enabled": True})
    post("/sources/discover", {"project_module": "wallaby_hires", "source_identifier": odd})
    o = settle([orow["uuid"]])[orow["uuid"]]
    c.eq("quoted identifier cannot widen the query", (o["source_identifier"], o["last_discovery_error"],
                                                       o["workflow_run_pending"]), (odd, None, False))
    st, mdo, _, _ = srv.request("GET", f"{V2}/sources/{orow['uuid']}/metadata")
    c.eq("no datasets for it", [m["sbid"] for m in mdo["metadata"]], ["0"])

    # Bulk registration checks every item first
    st, body, _, _ = post("/sources/bulk", {"items": [{"project_module": "bulk", "source_identifier": "B1"},
                                                      {"project_module": "bulk"}]})
    c.eq("bulk refuses a bad item by path", (st, body["field"]), (400, "items[1].source_identifier"))
    st, none_yet, _, _ = srv.request("GET", V2 + "/sources?project_module=bulk")
    c.eq("nothing registered from a refused bulk", none_yet, [])
    st, body, _, _ = post("/sources/bulk", {"items": [{"project_module": "bulk", "source_identifier": f"B{i}",
                                                       "enabled": True} for i in range(5)]})
    c.eq("bulk registers", (st, body["total"], len(body["items"])), (200, 5, 5))

    # Executions that selected a source
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    st, ex, _, _ = post("/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    st, exs, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1313-15']}/executions")
    c.eq("source executions", [e["uuid"] for e in exs], [ex["uuid"]])
    st, exs2, _, _ = srv.request("GET", f"{V2}/sources/{ids['HIPASSJ1318-21']}/executions")
    c.eq("other source has none", exs2, [])

    # Refusals
    st, body, _, _ = post("/sources/discover", {"project_module": "wallaby_hires", "source_identifier": "HIPASSJ1337-29"})
    c.eq("disabled source", (st, body["code"]), (409, "source_disabled"))
    st, body, _, _ = post("/sources/discover", {"project_module": "wallaby_hires", "source_identifier": "nope"})
    c.eq("unknown source", st, 404)
    st, body, _, _ = post("/sources/discover", {"project_module": "wallaby_hires", "source_identifier": "a",
                                                "source_identifiers": ["b"]})
    c.eq("both forms", (st, body["field"]), (400, "source_identifiers"))
    st, body, _, _ = post("/sources/discover", {})
    c.eq("module required", (st, body["field"]), (400, "project_module"))

    # A project without a config: the request fails, recorded on the source, nothing else breaks.
    st, row, _, _ = post("/sources", {"project_module": "noconfig", "source_identifier": "X1", "enabled": True})
    post("/sources/discover", {"project_module": "noconfig"})
    x = settle([row["uuid"]])[row["uuid"]]
    c.eq("failure recorded", (x["last_discovery_error"], x["last_checked_at"] is None),
         ("project 'noconfig' has no active config", True))
    st, evs, _, _ = srv.read_after(f"{V2}/sources/{row['uuid']}/events")
    out = latest_discovery_outcome(evs)
    c.eq("discovery.error provenance", (out["event_type"], out["payload"]["retryable"]), ("discovery.error", False))
finally:
    srv.stop()
c.finish()
