"""Discovery end to end against a REAL TAP server (GAVO DaCHS on loopback, scripts/tap-dachs-up.sh):
the WALLABY reference config (VizieR table name pointed at the fixture's viii_73.hicat)
discovers HIPASSJ1313-15 through the API; rediscovery of unchanged data is not pending; a changed
archive row makes it pending again; an ADQL error is a clear, non-retryable DiscoveryFailed;
MAXREC overflow is recorded."""
import os
import subprocess
import time

from harness import Checks, Server, fresh_database, latest_discovery_outcome

TAP = os.environ["BEAMPIPE_TEST_TAP_URL"]
REF = os.path.join(os.path.dirname(__file__), "..", "..", "config", "reference")
V2 = "/api/v2"
c = Checks()


def dachs_sql(sql):
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-p", os.environ.get("DACHS_PG_PORT", "5433"), "-d", "gavo",
                    "-qc", sql], check=True, capture_output=True)


def wallaby_for_dachs():
    with open(os.path.join(REF, "wallaby_hires.v1.yaml")) as f:
        return f.read().replace('FROM "VIII/73/hicat"', "FROM viii_73.hicat").encode()


class Run:
    def __init__(self, extra=None):
        env = {"BEAMPIPE_CASDA_TAP_URL": TAP, "BEAMPIPE_VIZIER_TAP_URL": TAP, "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0"}
        env.update(extra or {})
        self.srv = Server(conninfo=fresh_database(), extra_env=env)
        self.srv.wait_ready()

    def req(self, *a, **k):
        return self.srv.request(*a, **k)

    def discover(self, module, ident, timeout=120):
        st, row, _, _ = self.req("POST", V2 + "/sources", {"project_module": module, "source_identifier": ident,
                                                           "enabled": True})
        st, _, _, _ = self.req("POST", V2 + "/sources/discover", {"project_module": module, "source_identifier": ident})
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, cur, _, _ = self.req("GET", f"{V2}/sources/{row['uuid']}")
            if cur["discovery_request_id"] is None:
                return cur
            time.sleep(0.1)
        raise RuntimeError("discovery did not finish")


run = Run()
try:
    st, health, _, _ = run.req("GET", V2 + "/health/tap")
    c.eq("health/tap probes both services", (st, health["casda"], health["vizier"]), (200, "ok", "ok"))
    st, _, _, _ = run.req("POST", V2 + "/project-configs", raw_body=wallaby_for_dachs(),
                          headers={"Content-Type": "application/yaml"})
    c.eq("config uploaded", st, 201)
    src = run.discover("wallaby_hires", "HIPASSJ1313-15")
    c.eq("discovered without error", src["last_discovery_error"], None)
    c.eq("changed and ready: pending", src["workflow_run_pending"], True)
    sig1 = src["discovery_signature"]
    # Pinned for the DaCHS fixture + the reference config (no column there depends on time).
    c.eq("signature (golden for the fixture)", sig1, "eac5946138a1012212a1d63f74ff2fe62f8f44e8c1c0774e9fb535bad4ec9222")
    st, md, _, _ = run.req("GET", f"{V2}/sources/{src['uuid']}/metadata")
    c.eq("latest SBID from the real obscore", [m["sbid"] for m in md["metadata"]], ["12346"])
    ds = md["metadata"][0]["metadata_json"]["datasets"]
    c.eq("five beams", len(ds), 5)
    c.eq("scan ids", sorted(d["scan_id"] for d in ds), ["879950", "879951", "879952", "879953", "879954"])
    c.eq("sbid normalised from obs_id", {d["sbid"] for d in ds}, {"12346"})
    flags = md["metadata"][0]["metadata_json"]["discovery_flags"]
    c.eq("flags from the HIPASS catalogue", (flags["ra_dec_vsys_complete"], flags["vsys"]), (True, 1405.6))
    c.true("calibration archive chosen", all(d["evaluation_file"].startswith("calibration-metadata-processing-logs-SB12346_")
                                             for d in ds))

    # Unchanged archive: unchanged, not pending.
    again = run.discover("wallaby_hires", "HIPASSJ1313-15")
    st, evs, _, _ = run.srv.read_after(f"{V2}/sources/{src['uuid']}/events")
    out = latest_discovery_outcome(evs)
    c.eq("rediscovery unchanged", (out["event_type"], out["payload"]["workflow_run_pending"]),
         ("discovery.unchanged", False))
    c.eq("same signature", again["discovery_signature"], sig1)

    # A changed archive row: changed again, pending again.
    dachs_sql("UPDATE casda.wallaby_vis SET obs_publisher_did = 'ivo://casda/scan/2024-02-01#879999' "
              "WHERE filename = 'HIPASSJ1313-15_B_beam00.ms.tar'")
    try:
        changed = run.discover("wallaby_hires", "HIPASSJ1313-15")
        st, evs, _, _ = run.srv.read_after(f"{V2}/sources/{src['uuid']}/events")
        out = latest_discovery_outcome(evs)
        c.eq("changed row → changed", (out["event_type"], out["payload"]["workflow_run_pending"]),
             ("discovery.changed", True))
        c.true("new signature", changed["discovery_signature"] != sig1)
        st, md, _, _ = run.req("GET", f"{V2}/sources/{src['uuid']}/metadata")
        c.true("new scan id stored", "879999" in [d["scan_id"] for d in md["metadata"][0]["metadata_json"]["datasets"]])
    finally:
        dachs_sql("UPDATE casda.wallaby_vis SET obs_publisher_did = 'ivo://casda/scan/2024-02-01#879950' "
                  "WHERE filename = 'HIPASSJ1313-15_B_beam00.ms.tar'")

    # An ADQL error from the real server: a clear, non-retryable failure.
    bad = wallaby_for_dachs().replace(b"SELECT o.* FROM ivoa.obscore o", b"SELEC o.* FROM ivoa.obscore o", 1)
    bad = bad.replace(b"id: wallaby_hires", b"id: broken_adql")
    st, _, _, _ = run.req("POST", V2 + "/project-configs", raw_body=bad, headers={"Content-Type": "application/yaml"})
    c.eq("broken config still uploads (ADQL is the server's business)", st, 201)
    failed = run.discover("broken_adql", "HIPASSJ1313-15")
    c.true("ADQL error recorded with the server's message",
           failed["last_discovery_error"] is not None and "visibility" in failed["last_discovery_error"])
    st, evs, _, _ = run.srv.read_after(f"{V2}/sources/{failed['uuid']}/events")
    out = latest_discovery_outcome(evs)
    c.eq("not retryable", (out["event_type"], out["payload"]["retryable"]), ("discovery.error", False))
finally:
    run.srv.stop()

# MAXREC overflow is recorded on the source.
run = Run({"BEAMPIPE_TAP_MAXREC": "2"})
try:
    run.req("POST", V2 + "/project-configs", raw_body=wallaby_for_dachs(), headers={"Content-Type": "application/yaml"})
    src = run.discover("wallaby_hires", "HIPASSJ1313-15")
    c.eq("truncated recorded", (src["discovery_truncated"], src["last_discovery_error"]), (True, None))
    st, evs, _, _ = run.srv.read_after(f"{V2}/sources/{src['uuid']}/events")
    c.eq("truncated in provenance", latest_discovery_outcome(evs)["payload"]["truncated"], True)
finally:
    run.srv.stop()
c.finish()
