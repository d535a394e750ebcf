"""GET /api/v2/events/stream (issue #20): Server-Sent Events over the store's read order.
What must hold: every event of the store once and in the order of GET /events; a resume
(Last-Event-ID or ?after=, also across a restart of the server) with no gap and no repeat;
filters and the superuser-only visibility of sign-ins and users; heartbeats; at most
BEAMPIPE_MAX_STREAMS streams; a slow client told where to resume instead of buffered without
bound; and tickets that open one stream once, never an access token in a URL."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import V2, Checks, Server, create_user, fresh_database, read_events, wait_for  # noqa: E402

class Sse:
    """A raw HTTP/1.1 Server-Sent Events client: chunked decoding and message parsing by hand,
    so a test can choose its receive buffer and stop reading."""

    def __init__(self, port, path, headers=None, rcvbuf=None, timeout=20):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.sock, self.raw, self.body, self.ended = s, b"", b"", False
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        first, *fields = head.decode().split("\r\n")
        self.status = int(first.split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n:
                self._recv()
            self.error = json.loads(self.raw[:n] or b"null")
            self.close()

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the stream")
        self.raw += data

    def _dechunk(self):
        while self.chunked and not self.ended:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if size == 0:
                self.ended = True
                return
            if len(self.raw) < line_end + 2 + size + 2:
                return
            self.body += self.raw[line_end + 2:line_end + 2 + size]
            self.raw = self.raw[line_end + 2 + size + 2:]

    def message(self):
        """The next message block: {"id", "event", "data", "comments"}; EOFError at the end."""
        while b"\n\n" not in self.body:
            if self.ended:
                raise EOFError("the stream ended")
            self._recv()
            self._dechunk()
        block, _, self.body = self.body.partition(b"\n\n")
        msg = {"id": None, "event": "message", "data": None, "comments": [], "retry": None}
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                msg["comments"].append(line[1:].strip())
            else:
                key, _, value = line.partition(": ")
                if key == "data":
                    msg["data"] = json.loads(value)
                elif key in ("id", "event", "retry"):
                    msg[key] = value
        return msg

    def events(self, n):
        """The next n events (comments skipped)."""
        out = []
        while len(out) < n:
            m = self.message()
            if m["data"] is not None and m["event"] == "message":
                out.append(m)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def feed_positions(srv, after=0):
    """Every event position after `after` in GET /events order."""
    out = []
    while True:
        evs = read_events(srv, after)
        if not evs:
            return out
        out += [e["position"] for e in evs]
        after = evs[-1]["position"]


def register(srv, module, ident):
    st, row, _, _ = srv.request("POST", V2 + "/sources", {"project_module": module, "source_identifier": ident})
    assert st in (200, 201), (st, row)
    return row


def bearer(token):
    return {"Authorization": "Bearer " + token}


def ticket(srv, token=None):
    st, t, hdrs, _ = srv.request("POST", V2 + "/events/stream-tickets", headers=bearer(token) if token else None)
    assert st == 201, (st, t)
    return t, hdrs


c = Checks()
db = fresh_database()
env = {"BEAMPIPE_STREAM_HEARTBEAT_SECONDS": "1", "BEAMPIPE_MAX_STREAMS": "4",
       "BEAMPIPE_STREAM_BUFFER_BYTES": "16384"}
srv = Server(conninfo=db, extra_env=env)
srv.wait_ready()
streams = []


def open_stream(path, headers=None, **kw):
    s = Sse(srv.port, V2 + path, headers if headers is not None else bearer(srv.token), **kw)
    streams.append(s)
    return s


try:
    register(srv, "wallaby_hires", "STREAM_A")
    register(srv, "wallaby_hires", "STREAM_B")
    # --- the whole store, in the feed's order, once
    s = open_stream("/events/stream?after=0")
    c.eq("stream answered", (s.status, s.headers.get("content-type")), (200, "text/event-stream; charset=utf-8"))
    c.eq("not cached", s.headers.get("cache-control"), "no-store")
    first = s.message()
    c.eq("the first block sets the retry delay and says where the stream starts",
         (first["retry"], first["event"], first["data"]), ("2000", "ready", {"after": 0}))
    want = feed_positions(srv)
    got = s.events(len(want))
    c.eq("every stored event, in the order of GET /events", [int(m["id"]) for m in got], want)
    c.eq("the id is the position", [m["data"]["position"] for m in got], want)
    c.true("the data is the /events row", all({"event_id", "stream_id", "type", "data", "metadata", "recorded_at"}
                                              <= set(m["data"]) for m in got))
    # --- live: what is written now arrives without asking
    register(srv, "wallaby_hires", "STREAM_LIVE")
    live = s.events(1)[0]
    c.eq("a new event arrives live", (live["data"]["type"], live["data"]["data"].get("source_identifier")),
         ("SourceRegistered", "STREAM_LIVE"))
    c.true("heartbeats keep an idle stream open",
           wait_for("a heartbeat", lambda: "heartbeat" in s.message()["comments"], timeout=15))
    s.close()

    # --- resume: Last-Event-ID and ?after= give exactly what follows, no gap, no repeat
    all_pos = feed_positions(srv)
    mid = all_pos[len(all_pos) // 2]
    rest = all_pos[all_pos.index(mid) + 1:]
    r = open_stream("/events/stream", {**bearer(srv.token), "Last-Event-ID": str(mid)})
    c.eq("Last-Event-ID resumes exactly", [int(m["id"]) for m in r.events(len(rest))], rest)
    r.close()
    r = open_stream(f"/events/stream?after={mid}")
    c.eq("?after= resumes exactly", [int(m["id"]) for m in r.events(len(rest))], rest)
    r.close()
    # No position: from now on.
    r = open_stream("/events/stream")
    ready = r.message()
    c.eq("from now: ready names the last event", ready["data"]["after"], feed_positions(srv)[-1])
    register(srv, "wallaby_hires", "STREAM_NOW")
    now = r.events(1)[0]
    c.eq("without a position it starts at the end", now["data"]["data"].get("source_identifier"), "STREAM_NOW")
    r.close()

    # --- filters
    srcs = [e for e in read_events(srv, 0) if e["stream_type"] == "source"]
    f = open_stream(f"/events/stream?after=0&stream_type=source")
    c.eq("stream_type", [int(m["id"]) for m in f.events(len(srcs))], [e["position"] for e in srcs])
    f.close()
    one = srcs[0]["stream_id"]
    mine = [e["position"] for e in read_events(srv, 0) if e["stream_id"] == one]
    f = open_stream(f"/events/stream?after=0&stream_id={one}")
    c.eq("stream_id", [int(m["id"]) for m in f.events(len(mine))], mine)
    register(srv, "other_project", "ELSEWHERE")
    register(srv, "wallaby_hires", "STREAM_C")
    nxt = f.message()
    c.true("another stream's events are not shown", nxt["data"] is None or nxt["event"] != "message" or nxt["data"]["stream_id"] == one)
    f.close()
    f = open_stream("/events/stream?after=0&project_module=other_project&type=SourceRegistered")
    m = f.events(1)[0]
    c.eq("project_module and type", (m["data"]["type"], m["data"]["data"]["source_identifier"]),
         ("SourceRegistered", "ELSEWHERE"))
    f.close()

    # --- bad input: a clear 4xx naming the field
    for path, hdrs, field in [("/events/stream?after=-1", None, "after"),
                              ("/events/stream?after=999999999", None, "after"),
                              ("/events/stream", {"Last-Event-ID": "12x"}, "Last-Event-ID"),
                              ("/events/stream?type=" + "x" * 300, None, "type")]:
        b = open_stream(path, {**bearer(srv.token), **(hdrs or {})})
        c.eq(f"refused {path[:40]}", (b.status, b.error.get("field")), (400, field))

    # --- tickets: one stream, once; an access token never in a URL
    b = open_stream("/events/stream", {})
    c.eq("no credentials", (b.status, b.error["code"]), (401, "not_authenticated"))
    t, hdrs = ticket(srv)
    c.eq("a ticket is not cached", hdrs.get("Cache-Control"), "no-store")
    c.eq("a ticket lives a minute", t["expires_in"], 60)
    b = open_stream("/events/stream?after=0&ticket=" + t["ticket"], {})
    c.eq("a ticket opens a stream", b.status, 200)
    b.close()
    b = open_stream("/events/stream?ticket=" + t["ticket"], {})
    c.eq("a ticket works once", (b.status, b.error["code"]), (401, "invalid_ticket"))
    b = open_stream("/events/stream?ticket=" + srv.token, {})
    c.eq("an access token is no ticket", (b.status, b.error["code"]), (401, "invalid_ticket"))
    t2, _ = ticket(srv)
    st, err, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(t2["ticket"]))
    c.eq("a ticket is no access token", (st, err["code"]), (401, "invalid_token"))
    st, err, _, _ = srv.request("GET", V2 + "/sources?ticket=" + t2["ticket"], auth=False)
    c.eq("a ticket opens nothing else", st, 401)
    c.true("no ticket in the log", not any(t["ticket"] in line or t2["ticket"] in line for line in srv.log))

    # --- visibility: sign-ins and users for superusers only
    c.eq("a plain user", create_user(db, "viewer", "viewer-password-1"), 0)
    viewer = srv.login("viewer", "viewer-password-1")["access_token"]
    every = feed_positions(srv)
    hidden = [e["position"] for e in read_events(srv, 0) if e["stream_type"] in ("session", "user")]
    c.true("the store holds sign-ins and users", hidden)
    v = open_stream("/events/stream?after=0", bearer(viewer))
    seen = []
    register(srv, "wallaby_hires", "STREAM_MARK")  # the last event a plain user sees
    while True:
        m = v.events(1)[0]
        seen.append(m)
        if m["data"]["data"].get("source_identifier") == "STREAM_MARK":
            break
    c.true("a plain user sees no sign-ins or users",
           all(m["data"]["stream_type"] not in ("session", "user") for m in seen))
    c.eq("and every other event", [int(m["id"]) for m in seen[:-1]], [p for p in every if p not in hidden])
    v.close()
    vt, _ = ticket(srv, viewer)
    v = open_stream("/events/stream?after=0&stream_type=session&ticket=" + vt["ticket"], {})
    c.eq("a ticket carries the user's rights", v.status, 200)
    shown, beats = [], 0
    while beats < 2:  # the history (sign-ins of both users) is read before the first heartbeat
        m = v.message()
        beats += "heartbeat" in m["comments"]
        if m["data"] is not None and m["event"] == "message":
            shown.append(m["data"]["stream_type"])
    c.eq("no session events for a plain user, even when asked for", shown, [])
    v.close()

    # --- at most BEAMPIPE_MAX_STREAMS
    held = [open_stream("/events/stream") for _ in range(4)]
    c.eq("four open", [h.status for h in held], [200] * 4)
    extra = open_stream("/events/stream")
    c.eq("the fifth is refused", (extra.status, extra.error["code"]), (503, "too_many_streams"))
    held[0].close()
    c.true("a closed stream frees its place",
           wait_for("a free place", lambda: open_stream("/events/stream").status == 200, timeout=15))
    for h in streams:
        h.close()
    wait_for("streams closed", lambda: "beampipe_event_streams 0" in srv.request("GET", V2 + "/metrics", auth=False)[3],
             timeout=15)

    # --- a slow client: a bounded buffer, then `overflow` with the position to resume from
    def overflows():
        text = srv.request("GET", V2 + "/metrics", auth=False)[3]
        line = [x for x in text.splitlines() if x.startswith("beampipe_event_stream_overflows_total ")]
        return int(line[0].split()[1]) if line else None

    c.eq("no stream has overflowed yet", overflows(), 0)
    slow = open_stream("/events/stream", rcvbuf=4096)
    slow.message()  # connected; from here on it reads nothing until the server gives up on it
    # The flood runs beside: the client starts reading as soon as the overflow is declared, not
    # when the request ends. (A client that reads nothing for 30 s while a write waits is
    # dropped without a last word; under ASan beside other tests the request can take that.)
    flood = {}

    def post_flood():
        flood["status"] = srv.request("POST", V2 + "/sources/bulk", {"items": [
            {"project_module": "wallaby_hires", "source_identifier": f"FLOOD_{i:04d}"} for i in range(800)]})[0]

    poster = threading.Thread(target=post_flood)
    poster.start()
    c.true("the server declares the overflow", wait_for("an overflow", lambda: overflows() == 1, timeout=120))
    got, overflow, flooded = [], None, set()
    slow.sock.settimeout(30)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            m = slow.message()
            if m["event"] == "overflow":
                overflow = m["data"]
            elif m["data"] is not None and m["event"] == "message":
                got.append(int(m["id"]))
                # The bulk's registrations are appended in no set order: only all 800 of them
                # (not the last name) say the whole flood came through without an overflow.
                ident = m["data"]["data"].get("source_identifier") or ""
                if m["data"]["type"] == "SourceRegistered" and ident.startswith("FLOOD_"):
                    flooded.add(ident)
                    if len(flooded) == 800:
                        break
    except EOFError:
        pass
    poster.join(timeout=300)
    c.true("a flood of events", flood.get("status") in (200, 201))
    c.true(f"the slow client is told it fell behind ({len(got)} events came)", overflow is not None)
    c.true("and was closed after that", slow.ended)
    if overflow:
        c.eq("it resumes after the last event it was sent", overflow["resume_after"], got[-1] if got else None)
        tail = feed_positions(srv, overflow["resume_after"])
        r = open_stream(f"/events/stream?after={overflow['resume_after']}")
        c.eq("resuming there misses nothing", [int(m["id"]) for m in r.events(len(tail))], tail)
        r.close()
        c.true("far fewer than the flood were buffered", len(got) < 800)

    # --- resume across a restart of the server
    before = feed_positions(srv)
    last_seen = before[-1]
    code = srv.stop()
    if c.failed:
        print("first server exit code", code)
        print("\n".join(list(srv.log)[-60:]))
    srv = Server(conninfo=db, extra_env=env)
    srv.wait_ready()
    register(srv, "wallaby_hires", "AFTER_RESTART")
    after = feed_positions(srv, last_seen)
    r = open_stream("/events/stream", {**bearer(srv.token or srv.login()["access_token"]),
                                       "Last-Event-ID": str(last_seen)})
    c.eq("a restarted server resumes exactly", [int(m["id"]) for m in r.events(len(after))], after)
    # A stream paging through history (many pages) joins the live read another stream keeps
    # going, with nothing lost between its last page and the live read.
    register(srv, "wallaby_hires", "JOIN_MARK")
    full = feed_positions(srv)
    c.true("history of several pages", len(full) > 3 * 256)
    h = open_stream("/events/stream?after=0")
    c.eq("a stream from the start while another is live", [int(m["id"]) for m in h.events(len(full))], full)
    register(srv, "wallaby_hires", "JOIN_AFTER")
    c.eq("the live one sees what came",
         [m["data"]["data"].get("source_identifier") for m in r.events(2)], ["JOIN_MARK", "JOIN_AFTER"])
    c.eq("the joined one sees what comes next", h.events(1)[0]["data"]["data"].get("source_identifier"),
         "JOIN_AFTER")
    r.close()
    h.close()
finally:
    for s in streams:
        s.close()
    code = srv.stop()
    if c.failed:
        print("server exit code", code)
        print("\n".join(list(srv.log)[-60:]))
c.finish()
