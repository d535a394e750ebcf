"""Black-box tests of /api/v2: status codes, bodies, malformed input, read-your-writes."""
import signal
import threading

from harness import Checks, Server

c = Checks()
srv = Server()
V2 = "/api/v2"
try:
    # Health, readiness, metrics
    st, body, _, _ = srv.request("GET", V2 + "/health")
    c.eq("health status", st, 200)
    c.eq("health body", body["status"], "ok")
    st, body, _, _ = srv.request("GET", V2 + "/ready")
    c.true("ready answers 200 or 503 while projections start", st in (200, 503))
    body = srv.wait_ready()
    c.eq("ready database", body["database"], "ok")
    c.eq("ready migrations current", body["migrations"]["current"], True)
    c.true("ready names projections", "source_registry" in body["projections"]["checkpoints"])

    # Register a source: 200 with the row, read back at once (read-your-writes)
    src = {"project_module": "wallaby_hires", "source_identifier": "HIPASSJ1313-15", "enabled": True}
    st, row, hdrs, _ = srv.request("POST", V2 + "/sources", src)
    c.eq("register status", st, 200)
    c.eq("register identifier", row["source_identifier"], "HIPASSJ1313-15")
    c.eq("register enabled", row["enabled"], True)
    c.true("write answers with a position", int(hdrs["X-Beampipe-Position"]) > 0)
    c.true("correlation id echoed", len(hdrs.get("X-Correlation-Id", "")) > 0)
    sid = row["uuid"]
    st, got, _, _ = srv.request("GET", f"{V2}/sources/{sid}")
    c.eq("get source", (st, got["uuid"]), (200, sid))
    # Same key again: the same source (upsert of enabled only)
    st, again, _, _ = srv.request("POST", V2 + "/sources", dict(src, enabled=False))
    c.eq("upsert same uuid", again["uuid"], sid)
    c.eq("upsert changed enabled", again["enabled"], False)

    # Quotes, backslashes and non-ASCII survive the round trip
    odd = {"project_module": "wallaby_hires", "source_identifier": "J1313'-15\\\"é✓"}
    st, row2, _, _ = srv.request("POST", V2 + "/sources", odd)
    c.eq("odd identifier stored", (st, row2["source_identifier"]), (200, odd["source_identifier"]))

    # Listing, filters, paging
    st, rows, hdrs, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=1")
    c.eq("list limited", (st, len(rows)), (200, 1))
    c.eq("list total", hdrs["X-Total-Count"], "2")
    st, rows, _, _ = srv.request("GET", V2 + "/sources?project_module=nope")
    c.eq("list other module empty", rows, [])
    st, body, _, _ = srv.request("GET", V2 + "/sources?limit=0")
    c.eq("limit out of range", (st, body["field"]), (400, "limit"))
    st, body, _, _ = srv.request("GET", V2 + "/sources?enabled=maybe")
    c.eq("bad bool", (st, body["field"]), (400, "enabled"))

    # PATCH and DELETE
    st, row, _, _ = srv.request("PATCH", f"{V2}/sources/{sid}", {"enabled": True, "stale_after_hours": 6})
    c.eq("patch", (st, row["enabled"], row["stale_after_hours"]), (200, True, 6))
    st, body, _, _ = srv.request("PATCH", f"{V2}/sources/{sid}", {"stale_after_hours": -1})
    c.eq("patch invalid field named", (st, body["field"]), (400, "stale_after_hours"))
    st, events, _, _ = srv.request("GET", f"{V2}/sources/{sid}/events")
    c.eq("source events newest first", [e["event_type"] for e in events][-1], "source.registered")
    c.true("provenance carries the correlation id", all(e["correlation_id"] for e in events))

    # Bad input leaves stored state untouched
    st, before, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    for payload, field in [({"project_module": "m"}, "source_identifier"),
                           ({"project_module": "", "source_identifier": "x"}, "project_module"),
                           ({"project_module": "m", "source_identifier": "x" * 101}, "source_identifier"),
                           ({"project_module": "m", "source_identifier": "x", "enabled": "yes"}, "enabled"),
                           ({"project_module": "m", "source_identifier": "x", "typo": 1}, "typo")]:
        st, body, _, _ = srv.request("POST", V2 + "/sources", payload)
        c.eq(f"invalid {field}", (st, body.get("field")), (400, field))
    st, body, _, _ = srv.request("POST", V2 + "/sources", raw_body=b"{not json", headers={"Content-Type": "application/json"})
    c.eq("malformed json", (st, body["code"]), (400, "malformed_json"))
    st, body, _, _ = srv.request("POST", V2 + "/sources", raw_body=b"[1,2]", headers={"Content-Type": "application/json"})
    c.eq("non-object json", st, 400)
    st, body, _, _ = srv.request("POST", V2 + "/sources", raw_body=b"{}", headers={"Content-Type": "text/plain"})
    c.eq("wrong media type", (st, body["code"]), (415, "unsupported_media_type"))
    st, after, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    c.eq("rejected writes stored nothing", len(after["events"]), len(before["events"]))

    # Unknown routes, methods, ids
    c.eq("unknown route", srv.request("GET", V2 + "/nope")[0], 404)
    st, _, hdrs, _ = srv.request("DELETE", V2 + "/health")
    c.eq("wrong method", st, 405)
    c.eq("allow header", hdrs.get("Allow"), "GET")
    st, body, _, _ = srv.request("GET", V2 + "/sources/not-a-uuid")
    c.eq("malformed id", (st, body["field"]), (400, "id"))
    c.eq("missing source", srv.request("GET", V2 + "/sources/01a22281-6937-71e0-8e99-cbb49ab404c6")[0], 404)

    # Executions are admitted only against an active project config (test_executions.py
    # covers the whole life cycle); a refused create stores nothing.
    ex = {"project_module": "wallaby_hires", "archive_name": "casda",
          "sources": [{"source_identifier": "HIPASSJ1313-15", "sbids": ["66866"]}]}
    st, body, _, _ = srv.request("POST", V2 + "/executions", ex)
    c.eq("execution without a project config", (st, body["code"], body["field"]),
         (400, "project_not_configured", "project_module"))
    st, body, _, _ = srv.request("POST", V2 + "/executions", dict(ex, sources=[]))
    c.eq("execution needs sources", (st, body["field"]), (400, "sources"))
    st, page, _, _ = srv.request("GET", V2 + "/executions?project_module=wallaby_hires")
    c.eq("nothing stored", (st, page["total"]), (200, 0))
    st, body, _, _ = srv.request("PATCH", f"{V2}/executions/01a22281-6937-71e0-8e99-cbb49ab404c6", {"status": "cancelled"})
    c.eq("cancel of an unknown execution", st, 404)
    after = srv.request("GET", V2 + "/events?limit=1000")[1]

    # Global feed with a cursor
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=2")
    st, rest, _, _ = srv.request("GET", f"{V2}/events?after={feed['next_after']}&limit=1000")
    c.eq("feed cursor continues", len(feed["events"]) + len(rest["events"]), len(after["events"]))
    c.eq("feed unknown cursor", srv.request("GET", V2 + "/events?after=999999")[0], 400)

    # min_position: a read waits for the projections, and says so when they cannot get there
    st, row, hdrs, _ = srv.request("POST", V2 + "/sources", {"project_module": "m2", "source_identifier": "a"})
    pos = hdrs["X-Beampipe-Position"]
    st, rows, _, _ = srv.request("GET", f"{V2}/sources?project_module=m2&min_position={pos}")
    c.eq("min_position read sees the write", len(rows), 1)
    st, rows, rh, _ = srv.request("GET", f"{V2}/sources?project_module=m2&min_position={pos}")
    c.true("a read answers the position it reflects", int(rh["X-Beampipe-Position"]) >= int(pos))
    st, _, _, _ = srv.request("GET", f"{V2}/executions?min_position={rh['X-Beampipe-Position']}")
    c.eq("which another read model can be asked to reach", st, 200)

    # Read-your-writes under concurrency: every POST's row is visible in the next GET
    errors = []

    def writer(n):
        for i in range(10):
            s, r, h, _ = srv.request("POST", V2 + "/sources", {"project_module": "conc", "source_identifier": f"w{n}-{i}"})
            if s != 200:
                errors.append(s)
                continue
            s2, r2, _, _ = srv.request("GET", f"{V2}/sources?project_module=conc&min_position={h['X-Beampipe-Position']}&limit=500")
            if r["uuid"] not in [x["uuid"] for x in r2]:
                errors.append("missing " + r["uuid"])

    ts = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    c.eq("concurrent read-your-writes", errors, [])

    # HTTP-level limits
    resp = srv.raw(b"POST /api/v2/sources HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
                   b"Content-Type: application/json\r\n\r\n0\r\n\r\n")
    c.true("CL+TE refused", resp.startswith("HTTP/1.1 400"))
    resp = srv.raw(b"GET /api/v2/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    c.true("header limit", resp.startswith("HTTP/1.1 431"))
    big = b"{\"a\":\"" + b"x" * (1024 * 1024 + 10) + b"\"}"
    resp = srv.raw(b"POST /api/v2/sources HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(big)).encode() + b"\r\n\r\n" + big)
    c.true("body limit", resp.startswith("HTTP/1.1 413"))

    # Metrics
    st, _, hdrs, text = srv.request("GET", V2 + "/metrics")
    c.eq("metrics status", st, 200)
    c.true("request counter by route", 'beampipe_api_requests_total{method="POST",route="/api/v2/sources",status="200"}' in text)
    c.true("latency histogram", "beampipe_api_request_duration_seconds_bucket" in text)
    c.true("append counter", "beampipe_events_appended_total" in text)
    c.true("projection lag", "beampipe_projection_lag" in text)
finally:
    rc = srv.stop(signal.SIGTERM)
c.eq("clean shutdown exit code", rc, 0)
c.finish()
