"""GET /executions/{id} and every request's sign-in check are answered from read caches, and a
plain GET of a cached route is tried on the I/O thread first (issue #19). What a cached answer
must never do: differ from the uncached one, outlive a change of its read model (a run moving
on, a sign-in revoked), or skip what every answer carries (correlation id, metrics)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (V2, Checks, Server, create_profile, fresh_database, ready_sources,  # noqa: E402
                     upload_config, wait_execution, wallaby_config)

c = Checks()
srv = Server(conninfo=fresh_database())
srv.wait_ready()


def served(route, status):
    _, _, _, text = srv.request("GET", V2 + "/metrics", auth=False)
    m = re.search(r'beampipe_api_requests_total\{[^}]*route="' + re.escape(route) + r'"[^}]*status="'
                  + str(status) + r'"[^}]*\} (\d+)', text)
    if not m:
        m = re.search(r'beampipe_api_requests_total\{[^}]*status="' + str(status) + r'"[^}]*route="'
                      + re.escape(route) + r'"[^}]*\} (\d+)', text)
    return int(m.group(1)) if m else 0


try:
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    upload_config(srv, wallaby_config())
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    st, row, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda",
        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("execution created", st, 201)
    eid = row["uuid"]
    path = f"{V2}/executions/{eid}"

    # The same bytes from the I/O thread (a plain GET, a hit the second time) as from the
    # handler pool (?min_position takes the uncached way in).
    before = served("/api/v2/executions/{id}", 200)
    st1, _, _, inline1 = srv.request("GET", path)
    st2, _, _, inline2 = srv.request("GET", path)
    st3, _, _, pooled = srv.request("GET", path + "?min_position=0")
    c.eq("answers", (st1, st2, st3), (200, 200, 200))
    c.eq("a hit answers what the read model holds", inline2, pooled)
    c.eq("the first answer too", inline1, pooled)
    c.eq("each answer counted in the metrics", served("/api/v2/executions/{id}", 200) - before, 3)

    st, _, hdrs, _ = srv.request("GET", path, headers={"X-Correlation-Id": "inline-check-1"})
    c.eq("the caller's correlation id is echoed", (st, hdrs.get("X-Correlation-Id")), (200, "inline-check-1"))
    st, err, _, _ = srv.request("GET", path, headers={"X-Correlation-Id": "bad id"})
    c.eq("a bad correlation id is refused as before", (st, err.get("field")), (400, "X-Correlation-Id"))
    st, err, _, _ = srv.request("GET", f"{V2}/executions/0190f0a0-0000-7000-8000-00000000dead")
    c.eq("an unknown run is a 404", (st, err.get("code")), (404, "not_found"))
    st, err, _, _ = srv.request("GET", path, headers={"Authorization": "Bearer junk"})
    c.eq("a bad token is refused", (st, err.get("code")), (401, "invalid_token"))

    # The run moves on: the plain GET (the cached way) follows it to its end.
    st, acc, _, _ = srv.request("POST", path + "/execute", {"do_stage": False, "do_submit": False})
    c.eq("execute accepted", st, 202)
    # (it fails: the example config's graph URL is not reachable here; an end is an end)
    done = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed") and r["sources_finalized"])
    c.true("the cached answer shows the run's end", done["status"] in ("completed", "failed"))
    _, _, _, inline_end = srv.request("GET", path)
    _, _, _, pooled_end = srv.request("GET", path + f"?min_position={srv.seen_position}")
    c.eq("and matches the read model after it", inline_end, pooled_end)
    c.true("which is not the first answer", inline_end != inline1)

    # A sign-in revoked: its access token is refused on the cached way at once.
    tok = srv.login()
    bearer = {"Authorization": "Bearer " + tok["access_token"]}
    st, _, _, _ = srv.request("GET", path, headers=bearer)
    st_again, _, _, _ = srv.request("GET", path, headers=bearer)
    c.eq("a fresh sign-in reads (then from the cache)", (st, st_again), (200, 200))
    st, _, _, _ = srv.request("POST", V2 + "/logout", {"refresh_token": tok["refresh_token"]}, auth=False)
    c.eq("logout", st, 204)
    st, err, _, _ = srv.request("GET", path, headers=bearer)
    c.eq("its access token is refused after the logout", (st, err.get("code")), (401, "token_revoked"))
finally:
    srv.stop()
c.finish()
