"""Reads and writes that wait for their read models hold no thread (issue #19).
- 200 concurrent GETs with ?min_position=<a position not written yet>&wait_ms=10000 are put
  off: with two handler threads, /health stays fast (p99 under 100 ms) and a write succeeds
  while they wait.
- Once the position is written and applied, every one of them answers, at that position.
- A wait that never ends in time answers 503 projection_lag at its deadline, and its
  registration is gone (beampipe_read_waits returns to 0).
- Writes whose read model is held back (a session holds its group's lock) are recorded and
  put off too: more of them than handler threads wait, other routes still answer, and once the
  read model moves each answers with its row; every command was recorded exactly once.
- Writes whose command cannot be appended yet (a transaction blocks inserts into the event
  store) hold no thread either: while more of them than handler threads wait for their
  aggregates, a read still answers; once the store takes inserts again each answers once.
  Batches of commands (bulk registration, logout's revocations) wait the same way.
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


WRITES = 12


HOLDER = "beampipe-test-holder"


def hold(srv, statements, held_query):
    """A psql session that ran `statements` and stays open; returns once `held_query` says 1."""
    # Named, so `held_query` can tell its locks from the server's own (a runner's step holds
    # its group's advisory lock for a moment, and would otherwise read as the holder's).
    holder = subprocess.Popen([PSQL, srv.conninfo + " application_name=" + HOLDER, "-qAt"],
                              stdin=subprocess.PIPE, text=True)
    holder.stdin.write(statements + "\n")
    holder.stdin.flush()
    c.true(f"held: {statements}", wait_for("the lock", lambda: sql(srv, held_query) == "1", timeout=30))
    return holder


def release(holder, last=""):
    if last:
        holder.stdin.write(last + "\n")
    holder.stdin.close()
    holder.wait(30)


def start_writes(srv, prefix):
    """WRITES POST /sources (<prefix>0, <prefix>1, ...), each on its own connection."""
    answers, lock = [], threading.Lock()

    def write(ident):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        try:
            conn.request("POST", V2 + "/sources", body=json.dumps(
                {"project_module": "wallaby_hires", "source_identifier": ident}),
                headers={"Authorization": "Bearer " + srv.token, "Content-Type": "application/json"})
            resp = conn.getresponse()
            body = json.loads(resp.read() or b"{}")
            with lock:
                answers.append((resp.status, body.get("source_identifier"),
                                resp.getheader("X-Beampipe-Position")))
        except Exception as e:
            with lock:
                answers.append((None, repr(e), None))
        finally:
            conn.close()
    writers = [threading.Thread(target=write, args=(f"{prefix}{i}",)) for i in range(WRITES)]
    for t in writers:
        t.start()
    return writers, answers


def command_waits(srv):
    st, _, _, text = srv.request("GET", V2 + "/metrics")
    m = re.search(r"^beampipe_command_waits (\d+)$", text, re.M)
    return int(m.group(1)) if st == 200 and m else None


def start_calls(srv, calls):
    """Each (name, method, path, body, token) on its own connection; answers[name] = (status, body)."""
    answers, lock = {}, threading.Lock()

    def call(name, method, path, body, token):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        try:
            hdrs = {"Content-Type": "application/json"}
            if token:
                hdrs["Authorization"] = "Bearer " + token
            conn.request(method, V2 + path, body=json.dumps(body), headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            with lock:
                answers[name] = (resp.status, json.loads(raw) if raw else None)
        except Exception as e:
            with lock:
                answers[name] = (None, repr(e))
        finally:
            conn.close()
    threads = [threading.Thread(target=call, args=a) for a in calls]
    for t in threads:
        t.start()
    return threads, answers


def finish_writes(srv, writers, answers, prefix, when):
    for t in writers:
        t.join(60)
    c.eq(f"every write answered with its source {when}",
         sorted((st, ident, pos is not None) for st, ident, pos in answers),
         sorted((200, f"{prefix}{i}", True) for i in range(WRITES)))
    c.eq(f"each {prefix} command was recorded once", sql(
        srv, "SELECT count(*) FROM events WHERE event_type = 'SourceRegistered' "
             f"AND data->>'source_identifier' LIKE '{prefix}%'"), str(WRITES))


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

    # Writes: read-your-writes waits are put off as well, and their commands are not re-sent.
    # A session holds the sources group's advisory lock (no transaction, so the read fence is
    # not held back): that group's runner cannot apply anything until it lets go.
    holder = hold(srv, "SELECT pg_advisory_lock(hashtextextended("
                       "'beampipe:projections:' || current_schema() || ':sources', 0));",
                  "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                  f"WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '{HOLDER}'")
    before = read_waits(srv)
    writers, answers = start_writes(srv, "HELD")
    c.true(f"{WRITES} writes wait on two handler threads without holding them",
           wait_for("the writes' waits", lambda: read_waits(srv) == before + WRITES, timeout=30))
    c.eq("none answered while its read model was held back", answers, [])
    st, _, _, _ = srv.request("GET", V2 + "/executions")
    c.eq("a route on the handler pool still answers", st, 200)
    release(holder)  # the session ends, and its lock with it
    finish_writes(srv, writers, answers, "HELD", "once the read model moved")

    # Commands: a transaction blocks inserts into the event store (SHARE ROW EXCLUSIVE takes no
    # transaction id, so the read fence does not count it): the aggregates cannot append.
    session = srv.login()  # a sign-in is a command too: before the store is held
    holder = hold(srv, "BEGIN; LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;",
                  "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation "
                  "WHERE r.relname = 'events' AND l.mode = 'ShareRowExclusiveLock' AND l.granted")
    before = command_waits(srv)
    writers, answers = start_writes(srv, "QUEUED")
    # Batches of commands and a logout (two sessions' revocations) wait the same way.
    batches, batch_answers = start_calls(srv, [
        (f"bulk{b}", "POST", "/sources/bulk", {"items": [
            {"project_module": "wallaby_hires", "source_identifier": f"BULK{b}_{i}"} for i in range(3)]},
         srv.token) for b in range(2)] + [
        ("logout", "POST", "/logout", {"access_token": session["access_token"],
                                        "refresh_token": session["refresh_token"]}, None)])
    c.true("the aggregates' appends wait for the store", wait_for("a blocked append", lambda: sql(
        srv, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
             "AND query LIKE '%INSERT INTO events%'") != "0", timeout=30))
    c.true(f"{WRITES} writes, two bulk registrations and a logout wait for their commands",
           wait_for("the command waits", lambda: command_waits(srv) == before + WRITES + 3, timeout=30))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
    try:
        conn.request("GET", V2 + "/executions", headers={"Authorization": "Bearer " + srv.token})
        read_status = conn.getresponse().status
    except Exception as e:  # with every handler thread waiting on a command, it would time out
        read_status = repr(e)
    finally:
        conn.close()
    c.eq(f"a read answers while {WRITES} commands wait for their aggregates", read_status, 200)
    c.eq("no write answered while the store took no inserts", answers, [])
    c.eq("no batch answered while the store took no inserts", batch_answers, {})
    release(holder, "COMMIT;")
    finish_writes(srv, writers, answers, "QUEUED", "once the store took inserts again")
    for t in batches:
        t.join(60)
    c.eq("each bulk registration answered with its three sources",
         sorted((st, sorted(r["source_identifier"] for r in body["items"]))
                for name, (st, body) in batch_answers.items() if name.startswith("bulk")),
         [(200, [f"BULK{b}_{i}" for i in range(3)]) for b in range(2)])
    c.eq("the logout answered 204", batch_answers.get("logout", (None,))[0], 204)
    c.eq("each bulk source was recorded once", sql(
        srv, "SELECT count(*) FROM events WHERE event_type = 'SourceRegistered' "
             "AND data->>'source_identifier' LIKE 'BULK%'"), "6")
    st, _, _, _ = srv.request("GET", V2 + "/user/me", headers={"Authorization": "Bearer " + session["access_token"]})
    c.eq("the logged-out token is refused", st, 401)
    c.eq("no request waits for a command any more", command_waits(srv), before)

    # A transaction left open holds every read model back (it may be a late commit): the control
    # routes still answer, their read-model reads bounded, and writes are told at once.
    holder = hold(srv, "BEGIN; LOCK TABLE source_registry IN ACCESS EXCLUSIVE MODE;",
                  "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation "
                  "WHERE r.relname = 'source_registry' AND l.mode = 'AccessExclusiveLock' "
                  "AND l.granted")
    st, _, _, text = srv.request("GET", V2 + "/metrics")
    c.eq("/metrics answers while a read model is locked, its gauges marked unavailable",
         (st, "beampipe_read_model_gauges_up 0" in text), (200, True))
    st, _, _, _ = srv.request("GET", V2 + "/health", auth=False)
    c.eq("/health answers while a read model is locked", st, 200)
    release(holder, "COMMIT;")
finally:
    srv.stop()
c.finish()
