"""Tamper-evident history (issue #22) on a real PostgreSQL: every event's hash chains it to the
previous event of its stream, checkpoints chain digests over the whole history, and `beampipe
audit verify` names each event that was altered, removed, reordered or inserted, by position and
stream. The test recomputes a stored hash by the documented recipe, then tampers with the
database directly (edit, delete, swap, forged events with a random and with a correctly
recomputed hash) and expects each reported at its position; after a kill -9 mid-write both
`audit verify` and `replay --verify` pass."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import V2, Checks, Server, fresh_database, wait_for  # noqa: E402

PSQL = "/usr/lib/postgresql/15/bin/psql"
c = Checks()
db = fresh_database()


def sql(query):
    r = subprocess.run([PSQL, db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", query], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.splitlines() if line]


def audit(*argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    env["DATABASE_URL"] = db
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "audit", *argv], capture_output=True, text=True, env=env,
                       timeout=300)
    return r.returncode, r.stdout, r.stderr


def verify(*extra):
    rc, out, err = audit("verify", "--json", *extra)
    return rc, (json.loads(out) if out.strip().startswith("{") else {"problems": [], "error": err})


def event_hash(prev, eid, stream, version, etype, schema, us, data, meta):
    """The documented recipe (store/event_chain.hpp), written again here."""
    h = hashlib.sha256(prev or bytes(32))
    for field in (b"beampipe-event-v1", eid.encode(), stream.encode(), str(version).encode(), etype.encode(),
                  str(schema).encode(), str(us).encode(), data.encode(), meta.encode()):
        h.update(len(field).to_bytes(8, "big"))
        h.update(field)
    return h.digest()


ROW = ("event_id::text, stream_id, stream_version, event_type, schema_version, "
       "(extract(epoch FROM recorded_at) * 1000000)::bigint, data::text, metadata::text")


def row_at(position):
    return sql(f"SELECT {ROW}, encode(hash, 'hex'), tx_id::text FROM events WHERE position = {position}")[0]


def save(position):
    return sql(f"SELECT tx_id::text, {ROW}, recorded_at::text, encode(hash, 'hex'), stream_type "
               f"FROM events WHERE position = {position}")[0]


def reinsert(r, position):
    sql("INSERT INTO events (position, tx_id, event_id, stream_id, stream_version, event_type, schema_version, "
        "data, metadata, recorded_at, hash, stream_type) OVERRIDING SYSTEM VALUE VALUES "
        f"({position}, '{r[0]}', '{r[1]}', '{r[2]}', {r[3]}, '{r[4]}', {r[5]}, $j${r[7]}$j$, $j${r[8]}$j$, "
        f"'{r[9]}', decode('{r[10]}', 'hex'), '{r[11]}')")


def problems_at(report):
    return [(p["position"], p["stream_id"]) for p in report["problems"]]


srv = Server(conninfo=db)
try:
    srv.wait_ready()
    st, _, _, _ = srv.request("POST", V2 + "/sources/bulk", {"items": [
        {"project_module": "wallaby_hires", "source_identifier": f"AUDIT_{i:03d}"} for i in range(40)]})
    assert st in (200, 201), st
    # A stream of several events: a sign-in session refreshed again and again.
    tokens = srv.login()
    for _ in range(4):
        st, tokens, _, _ = srv.request("POST", V2 + "/refresh", {"refresh_token": tokens["refresh_token"]},
                                       auth=False)
        assert st == 200, tokens
    srv.stop()

    rc, rep = verify()
    c.eq("an untouched store verifies", (rc, rep["problems"]), (0, []))
    c.true("every event is chained", rep["events"] > 40 and
           sql("SELECT count(*) FROM events WHERE hash IS NULL") == [["0"]])
    # The recipe reproduces what the appender stored, from the stored row alone.
    stream, = sql("SELECT stream_id FROM events GROUP BY stream_id HAVING count(*) >= 4 ORDER BY 1 LIMIT 1")[0]
    rows = sql(f"SELECT position, {ROW}, encode(hash, 'hex') FROM events WHERE stream_id = '{stream}' "
               "ORDER BY stream_version")
    prev, ok = None, True
    for r in rows:
        h = event_hash(prev, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
        ok = ok and h.hex() == r[9]
        prev = h
    c.true(f"the documented recipe recomputes every hash of {stream}", ok and len(rows) >= 4)
    c.eq("the stream row holds its head", sql(f"SELECT encode(head_hash, 'hex') FROM streams WHERE stream_id = "
                                             f"'{stream}'")[0][0], rows[-1][9])

    rc, out, err = audit("checkpoint")
    ref1 = out.splitlines()[0] if rc == 0 else ""
    c.true("a checkpoint prints SEQ:DIGEST", rc == 0 and ref1.startswith("1:") and len(ref1) == 66)
    c.eq("verify --against it", verify("--against", ref1)[0], 0)
    rc, out, err = audit("verify", "--against", "1:" + "0" * 64)
    c.eq("a digest the history does not match fails", (rc, "does not match the digest" in out), (1, True))
    rc, out, err = audit("verify", "--against", "nonsense")
    c.eq("a malformed reference is a usage error", (rc, "SEQ:DIGEST" in err), (2, True))

    p1, p2, p3 = [int(r[0]) for r in rows[:3]]

    # 1. An event's data edited.
    original = sql(f"SELECT data::text FROM events WHERE position = {p2}")[0][0]
    sql(f"UPDATE events SET data = '{{\"edited\": true}}' WHERE position = {p2}")
    rc, rep = verify()
    c.eq("an edited event is reported at its position", (rc, problems_at(rep)[:1]), (1, [(p2, stream)]))
    c.true("as altered", "altered" in rep["problems"][0]["problem"])
    sql(f"UPDATE events SET data = $j${original}$j$ WHERE position = {p2}")
    c.eq("restored, it verifies again", verify()[0], 0)

    # 2. An event deleted from the middle of its stream.
    saved = save(p2)
    sql(f"DELETE FROM events WHERE position = {p2}")
    rc, rep = verify()
    c.eq("a removed event is reported by the checkpoint at its own position, and by the chain at the next "
         "event of its stream", (rc, problems_at(rep)[:2]), (1, [(p2, None), (p3, stream)]))
    c.true("both as removed", all("removed" in p["problem"] for p in rep["problems"][:2]))
    reinsert(saved, p2)
    c.eq("re-inserted, it verifies again", verify()[0], 0)

    # 3. Two events of a stream swap positions (position is an identity column: the rows are
    #    deleted and inserted again under each other's position).
    def swap(a, b):
        ra, rb = save(a), save(b)
        sql(f"DELETE FROM events WHERE position IN ({a}, {b})")
        reinsert(ra, b)
        reinsert(rb, a)

    swap(p1, p2)
    rc, rep = verify()
    c.eq("swapped events are reported where the order breaks", (rc, problems_at(rep)[:1]), (1, [(p1, stream)]))
    c.true("as out of order", "out of order" in rep["problems"][0]["problem"])
    swap(p1, p2)
    c.eq("swapped back, it verifies again", verify()[0], 0)

    # 4. A forged event with a valid-looking (random) hash at the head of a stream.
    last = rows[-1]
    head_version = int(last[3])
    forged_pos = int(sql("SELECT max(position) + 1000 FROM events")[0][0])
    sql("INSERT INTO events (position, event_id, stream_id, stream_type, stream_version, event_type, data, "
        f"metadata, hash) OVERRIDING SYSTEM VALUE VALUES ({forged_pos}, gen_random_uuid(), '{stream}', "
        f"split_part('{stream}', '-', 1), {head_version + 1}, 'UserSignedIn', '{{}}', '{{}}', "
        f"decode('{os.urandom(32).hex()}', 'hex'))")
    rc, rep = verify()
    c.eq("a forged event with a random hash is reported at its position", (rc, problems_at(rep)[:1]),
         (1, [(forged_pos, stream)]))
    sql(f"DELETE FROM events WHERE position = {forged_pos}")
    c.eq("removed again, it verifies", verify()[0], 0)

    # 5. A forged event whose hash is recomputed correctly, its stream row updated, slipped into
    #    the checkpointed range (an old transaction id): only the checkpoint can tell.
    old_tx = sql("SELECT min(tx_id)::text FROM events")[0][0]
    eid = sql("SELECT gen_random_uuid()::text")[0][0]
    us = int(last[6]) + 1
    forged_hash = event_hash(bytes.fromhex(last[9]), eid, stream, head_version + 1, "UserSignedIn", 1, us, "{}", "{}")
    sql("INSERT INTO events (position, tx_id, event_id, stream_id, stream_type, stream_version, event_type, data, "
        f"metadata, recorded_at, hash) OVERRIDING SYSTEM VALUE VALUES ({forged_pos}, '{old_tx}', '{eid}', "
        f"'{stream}', split_part('{stream}', '-', 1), {head_version + 1}, 'UserSignedIn', '{{}}', '{{}}', "
        f"timestamptz 'epoch' + {us} * interval '1 microsecond', decode('{forged_hash.hex()}', 'hex')); "
        f"UPDATE streams SET version = {head_version + 1}, head_hash = decode('{forged_hash.hex()}', 'hex') "
        f"WHERE stream_id = '{stream}'")
    rc, rep = verify()
    c.eq("a forged event with a recomputed hash is reported by the checkpoint, at its position",
         (rc, [p["position"] for p in rep["problems"]]), (1, [forged_pos]))
    c.eq("and verify --against the kept digest fails", verify("--against", ref1)[0], 1)
    sql(f"DELETE FROM events WHERE position = {forged_pos}; UPDATE streams SET version = {head_version}, "
        f"head_hash = decode('{last[9]}', 'hex') WHERE stream_id = '{stream}'")
    c.eq("removed again, the kept digest verifies", verify("--against", ref1)[0], 0)

    # 5b. An event altered in the middle of a stream, and every later hash of the stream (and
    #     its head) recomputed by the recipe: the chains all hold, and the checkpoint's
    #     fingerprint names the altered event, not just its range.
    rows = sql(f"SELECT position, {ROW}, encode(hash, 'hex') FROM events WHERE stream_id = '{stream}' "
               "ORDER BY stream_version")
    victim = rows[1]
    forged_data = '{"forged": true}'
    prev, rehashed = bytes.fromhex(rows[0][9]), []
    for r in rows[1:]:
        data = forged_data if r is victim else r[7]
        prev = event_hash(prev, r[1], r[2], r[3], r[4], r[5], r[6], data, r[8])
        rehashed.append((r[0], prev.hex()))
    sql(f"UPDATE events SET data = $j${forged_data}$j$ WHERE position = {victim[0]}; " +
        "".join(f"UPDATE events SET hash = decode('{h}', 'hex') WHERE position = {p}; " for p, h in rehashed) +
        f"UPDATE streams SET head_hash = decode('{rehashed[-1][1]}', 'hex') WHERE stream_id = '{stream}'")
    rc, rep = verify()
    c.eq("an altered, rechained event is named by the checkpoint at its position",
         (rc, problems_at(rep)), (1, [(int(victim[0]), stream)]))
    c.true("and the rehashed events after it are counted, not each reported",
           f"{len(rows) - 2} later event" in rep["problems"][0]["problem"])
    sql(f"UPDATE events SET data = $j${victim[7]}$j$ WHERE position = {victim[0]}; " +
        "".join(f"UPDATE events SET hash = decode('{r[9]}', 'hex') WHERE position = {r[0]}; " for r in rows[1:]) +
        f"UPDATE streams SET head_hash = decode('{rows[-1][9]}', 'hex') WHERE stream_id = '{stream}'")
    c.eq("restored, it verifies against the kept digest", verify("--against", ref1)[0], 0)

    # 6. A kill -9 in the middle of writes: what committed is chained, nothing half-written.
    srv = Server(conninfo=db)
    srv.wait_ready()
    def run_flood():
        try:
            for n in range(20):
                srv.request("POST", V2 + "/sources/bulk", {"items": [
                    {"project_module": "wallaby_hires", "source_identifier": f"KILL_{n}_{i:03d}"}
                    for i in range(200)]})
        except OSError:
            pass  # the server is gone

    flood = threading.Thread(target=run_flood)
    flood.start()
    before = int(sql("SELECT count(*) FROM events")[0][0])
    deadline = time.time() + 120
    while int(sql("SELECT count(*) FROM events")[0][0]) < before + 300 and time.time() < deadline:
        pass
    srv.stop(signal.SIGKILL)
    flood.join(timeout=120)
    rc, rep = verify()
    c.eq("after kill -9 mid-write: audit verify passes", (rc, rep["problems"]), (0, []))
    c.true("the writes before the kill are there", rep["events"] >= before + 300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "replay", "--verify"], env=dict(env, DATABASE_URL=db),
                       capture_output=True, text=True, timeout=600)
    c.eq("and replay --verify passes", (r.returncode, "read models verified" in r.stdout), (0, True))
    rc, out, err = audit("checkpoint", "--json")
    c.true("a second checkpoint covers what came since", rc == 0 and json.loads(out)["seq"] == 2)
    c.eq("both checkpoints verify", verify("--against", ref1)[1].get("checkpoints"), 2)

    # 7. A node takes checkpoints on its own, every BEAMPIPE_AUDIT_CHECKPOINT_SECONDS.
    srv = Server(conninfo=db, extra_env={"BEAMPIPE_AUDIT_CHECKPOINT_SECONDS": "1"})
    srv.wait_ready()
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "AFTER_KILL"})
    c.true("the node records a checkpoint over the new events",
           wait_for("a checkpoint", lambda: int(sql("SELECT max(seq) FROM audit_checkpoints")[0][0]) >= 3,
                    timeout=60))
    srv.stop()
    rc, rep = verify()
    c.eq("and the whole history verifies", (rc, rep["checkpoints"] >= 3), (0, True))
finally:
    srv.stop()
c.finish()
