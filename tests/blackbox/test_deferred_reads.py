"""Reads that wait for their read models hold no thread (issue #19).
- 200 concurrent GETs with ?min_position=<a position not written yet>&wait_ms=10000 are put
  off: with two handler threads, /health stays fast (p99 under 100 ms) and a write succeeds
  while they wait.
- Once the position is written and applied, every one of them answers, at that position.
- A wait that never ends in time answers 503 projection_lag at its deadline, and its
  registration is gone (beampipe_read_waits returns to 0).
"""
import http.client
import json
import re
import subprocess
import threading
import time

from harness import V2, Checks, Server, wait_for

c = Checks()
PSQL = "/usr/lib/postgresql/15/bin/psql"
WAITERS = 200


def sql(srv, query):
    return subprocess.run([PSQL, srv.conninfo, "-qAt", "-c", query], check=True,
                          capture_output=True, text=True).stdout.strip()


def read_waits(srv):
    st, _, _, text = srv.request("GET", V2 + "/metrics")
    m = re.search(r"^beampipe_read_waits (\d+)$", text, re.M)
    return int(m.group(1)) if st == 200 and m else None


def start_reads(srv, n, path):
    """n GETs of `path`, each on its own connection; returns (threads, results)."""
    results, lock = [], threading.Lock()

    def call():
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + srv.token})
            resp = conn.getresponse()
            body = resp.read()
            code = json.loads(body).get("code") if body.startswith(b"{") else None
            with lock:
                results.append((resp.status, code, resp.getheader("X-Beampipe-Position")))
        except Exception as e:  # a connection the server dropped counts as a failure
            with lock:
                results.append((None, repr(e), None))
        finally:
            conn.close()
    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


srv = Server(extra_env={"BEAMPIPE_API_THREADS": "2"})
try:
    srv.wait_ready()
    head = int(sql(srv, "SELECT coalesce(max(position), 0) FROM events"))
    target = head + 3
    threads, results = start_reads(srv, WAITERS, f"{V2}/sources?min_position={target}&wait_ms=10000")
    c.true("every read was put off: as many registered waits as reads",
           wait_for("200 registered waits", lambda: read_waits(srv) == WAITERS, timeout=30))
    c.eq("none answered while its position was not written", results, [])

    # /health, from another connection, while they wait.
    samples, statuses = [], set()
    for _ in range(100):
        t0 = time.monotonic()
        st, _, _, _ = srv.request("GET", V2 + "/health", auth=False)
        samples.append(time.monotonic() - t0)
        statuses.add(st)
    c.eq("health answers 200 while the reads wait", statuses, {200})
    samples.sort()
    p99 = samples[98]
    c.true(f"health p99 under 100 ms while {WAITERS} reads wait (p99 {p99 * 1000:.1f} ms)", p99 < 0.1)

    # Writes take a handler thread each: with both of them free, they go through.
    for i in range(3):
        st, body, _, _ = srv.request("POST", V2 + "/sources",
                                     {"project_module": "wallaby_hires", "source_identifier": f"DEFER{i}"})
        c.true(f"a write succeeds while the reads wait ({i}: {st})", st in (200, 201))

    # The writes reach the target position: every read answers.
    for t in threads:
        t.join(60)
    c.eq("every read answered", len(results), WAITERS)
    if sql(srv, f"SELECT count(*) FROM events WHERE position = {target}") == "1":
        c.true("each answered 200 at or past the position it named",
               all(st == 200 and pos is not None and int(pos) >= target for st, _, pos in results))
    else:  # the sequence skipped it (a rolled-back append): no event will ever be there
        c.true("each was told the position names no event",
               all(st == 400 and code == "unknown_position" for st, code, _ in results))
    c.eq("no registration is left", read_waits(srv), 0)

    # A position that will not be written in time: 503 at the deadline, nothing left behind.
    far = int(sql(srv, "SELECT coalesce(max(position), 0) FROM events")) + 100000
    t0 = time.monotonic()
    threads, results = start_reads(srv, 20, f"{V2}/executions?min_position={far}&wait_ms=1500")
    for t in threads:
        t.join(60)
    c.true(f"each answered 503 projection_lag ({sorted(set(results))})",
           len(results) == 20 and all(st == 503 and code == "projection_lag" for st, code, _ in results))
    c.true("not before its deadline", time.monotonic() - t0 >= 1.5)
    c.eq("the timed-out registrations are gone", read_waits(srv), 0)

    # A past position still answers at once, and one below the head that names no event is a 400.
    st, _, hdrs, _ = srv.request("GET", f"{V2}/sources?min_position={head}")
    c.eq("a position already applied answers at once", st, 200)
    gap = sql(srv, "SELECT s.p FROM generate_series(1, (SELECT max(position) FROM events)) s(p) "
                   "WHERE NOT EXISTS (SELECT 1 FROM events WHERE position = s.p) LIMIT 1")
    if gap:
        st, body, _, _ = srv.request("GET", f"{V2}/sources?min_position={gap}")
        c.eq("a position below the head with no event is refused", (st, body.get("code")),
             (400, "unknown_position"))
finally:
    srv.stop()
c.finish()
