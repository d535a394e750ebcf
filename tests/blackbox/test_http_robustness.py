"""One request must never stop the control plane (issue #16, the HTTP server's part).
- Transfer-Encoding other than exactly `chunked` is a 400 and closes the connection: what
  follows it is never answered as a request.
- Invalid UTF-8 or a control character in the path or a query parameter is a 400 naming it.
- X-Correlation-Id is 1..128 visible ASCII characters, else a 400 naming it.
- Method tokens the client makes up are counted as method="OTHER", never as labels.
- The rate limiter's client is the right-most X-Forwarded-For address that is not a trusted
  proxy, not the first one (which the client writes).
- Health, readiness and metrics answer while reads wait for held-back events; those reads hold
  no handler thread (issue #19), so other routes answer too.
- The server stops accepting at its connection cap (BEAMPIPE_MAX_CONNECTIONS, at most the
  open-file limit minus 128) and does not spin when accept() fails with EMFILE.
"""
import http.client
import json
import os
import random
import re
import resource
import socket
import string
import subprocess
import threading
import time

from harness import V2, Checks, Server, wait_for

c = Checks()
PSQL = "/usr/lib/postgresql/15/bin/psql"


def raw_all(port, payload, timeout=5):
    """Sends bytes as they are and reads until the server closes (or `timeout` passes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(payload)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return out


def responses(data):
    """Splits a byte stream into [(status, headers, body)] (Content-Length framing only)."""
    out = []
    while data.startswith(b"HTTP/1."):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode(errors="replace")
        n = int(hdrs.get("content-length", "0"))
        body = rest[:n]
        out.append((status, hdrs, json.loads(body) if body.startswith(b"{") else body))
        data = rest[n:]
    return out


SMUGGLED = b"GET /api/v2/health HTTP/1.1\r\nHost: t\r\nX-Correlation-Id: smuggled-request\r\n\r\n"

srv = Server()
try:
    srv.wait_ready()

    # --- Transfer-Encoding: exactly `chunked` or 400 and close (RFC 9112 section 6.3)
    bad_codings = {
        "identity": b"",
        "chunked, identity": b"",
        "gzip, chunked": b"0\r\n\r\n",
    }
    for coding, body in bad_codings.items():
        out = raw_all(srv.port, b"GET /api/v2/health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                      + coding.encode() + b"\r\n\r\n" + body + SMUGGLED)
        got = responses(out)
        c.eq(f"TE {coding!r}: one answer, a 400 naming Transfer-Encoding",
             [(st, b.get("field") if isinstance(b, dict) else b) for st, _, b in got],
             [(400, "Transfer-Encoding")])
        c.true(f"TE {coding!r}: the bytes after it are not answered as a request",
               b"smuggled-request" not in out)
        c.eq(f"TE {coding!r}: the connection is closed", got[0][1].get("connection") if got else None, "close")
    # Exactly chunked (any case, padded) still works, pipelined request included.
    login = b'{"username":"nobody","password":"wrong!"}'
    out = raw_all(srv.port, b"POST /api/v2/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding:  Chunked \r\n\r\n"
                  + b"%x\r\n" % len(login) + login + b"\r\n0\r\n\r\n" + SMUGGLED
                  + b"GET /api/v2/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    c.eq("TE Chunked: the body is read, pipelined requests answered",
         [st for st, _, _ in responses(out)], [401, 200, 200])

    # --- the path and query values must be valid UTF-8 without control characters
    for value in ("%FF", "%00", "%0A", "%C0%AF", "%ED%A0%80", "abc%7F"):
        st, body, _, _ = srv.request("GET", f"{V2}/sources?project_module={value}")
        c.eq(f"project_module={value} is a 400 naming it", (st, body and body.get("field")),
             (400, "project_module"))
    st, body, _, _ = srv.request("GET", f"{V2}/sources?%FF=1")
    c.eq("an invalid query parameter name is a 400", (st, body and body.get("field")), (400, "query"))
    st, body, _, _ = srv.request("GET", f"{V2}/sources/%FF%00")
    c.eq("an invalid path is a 400 naming the path", (st, body and body.get("field")), (400, "path"))
    st, body, _, _ = srv.request("GET", f"{V2}/sources?project_module=%C3%A9t%C3%A9")
    c.eq("valid UTF-8 in a query value is served", (st, body), (200, []))

    # --- X-Correlation-Id: 1..128 visible ASCII characters, else 400
    for what, value in (("invalid UTF-8", b"\xff\xfe"), ("UTF-8 letters", "été".encode()),
                        ("a space", b"one two"), ("129 bytes", b"a" * 129)):
        got = responses(raw_all(srv.port, b"GET /api/v2/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                b"X-Correlation-Id: " + value + b"\r\n\r\n"))
        c.eq(f"X-Correlation-Id with {what}: 400 naming it",
             [(st, b.get("field")) for st, _, b in got], [(400, "X-Correlation-Id")])
        c.true(f"X-Correlation-Id with {what}: a fresh id is echoed instead",
               got and got[0][1].get("x-correlation-id", "").encode() not in (b"", value))
    good = "req-42:" + "x" * 121
    st, _, hdrs, _ = srv.request("GET", V2 + "/health", headers={"X-Correlation-Id": good})
    c.eq("a valid 128-byte correlation id is echoed", (st, hdrs.get("X-Correlation-Id")), (200, good))

    # --- method tokens are not metric labels
    before = len(srv.request("GET", V2 + "/metrics")[3])
    tokens = ["".join(random.choice(string.ascii_uppercase) for _ in range(4000)) for _ in range(50)]
    statuses = set()
    for t in tokens:
        got = responses(raw_all(srv.port, t.encode() + b" /api/v2/health HTTP/1.1\r\nHost: t\r\n"
                                b"Connection: close\r\n\r\n"))
        statuses.update(st for st, _, _ in got)
    c.eq("long unknown methods are refused", statuses, {405})
    st, _, _, text = srv.request("GET", V2 + "/metrics")
    c.true(f"/metrics stays small (grew {len(text) - before} bytes)", len(text) - before < 20000)
    c.true("they are counted as method=OTHER",
           re.search(r'beampipe_api_requests_total\{method="OTHER",route="[^"]*",status="405"\} 50\n', text))
    c.true("no method token is a label", not any(t[:64] in text for t in tokens))

    st, _, _, _ = srv.request("GET", V2 + "/ready")
    c.eq("still ready after all of it", st, 200)
finally:
    srv.stop()

# --- X-Forwarded-For: the right-most address that is not a trusted proxy is the client
proxy = Server(extra_env={"BEAMPIPE_RATE_LIMIT_REQUESTS": "2", "BEAMPIPE_TRUSTED_PROXY_CIDRS": "127.0.0.0/8"})
try:
    proxy.wait_ready()
    bad = {"username": "bbadmin", "password": "wrong-password"}

    def logins(xffs):
        return [proxy.request("POST", V2 + "/login", bad, headers={"X-Forwarded-For": x}, auth=False)[0]
                for x in xffs]
    c.eq("a forged first entry does not pick the subject (the proxy's entry does)",
         logins([f"203.0.113.{i}, 192.0.2.9" for i in range(3)]), [401, 401, 429])
    c.eq("trusted hops on the right are skipped",
         logins([f"198.51.100.{i}, 192.0.2.10, 127.0.0.5" for i in range(3)]), [401, 401, 429])
    c.eq("a malformed entry stops the walk at the last good address",
         logins([f"198.51.100.{i}, not-an-address, 127.0.0.7" for i in range(3)]), [401, 401, 429])
    c.eq("another client behind the proxy has its own window", logins(["192.0.2.99"]), [401])
finally:
    proxy.stop()

# --- health, ready and metrics answer while reads wait for their read models
# Hold the read fence back with an open transaction (projections only consume events older
# than every running transaction), append an event after it, and ask for reads at that
# position: more of them than there are handler threads.
held = Server(extra_env={"BEAMPIPE_API_THREADS": "2"})
blocker = None
try:
    held.wait_ready()
    held.request("GET", V2 + "/sources")  # signs in while the projections still run
    blocker = subprocess.Popen([PSQL, held.conninfo, "-qAt", "-v", "ON_ERROR_STOP=1"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    blocker.stdin.write("BEGIN;\nSELECT pg_current_xact_id();\n")
    blocker.stdin.flush()
    c.true("the fence-holding transaction has an id", blocker.stdout.readline().strip().isdigit())
    pos = int(subprocess.run(
        [PSQL, held.conninfo, "-qAt", "-c",
         "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata) "
         "VALUES (gen_random_uuid(), 'robustness-test', 'test', 1, 'RobustnessMarker', '{}', '{}') "
         "RETURNING position"], check=True, capture_output=True, text=True).stdout.split()[0])
    order, lock = [], threading.Lock()
    results = {}

    def call(name, path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", held.port, timeout=60)
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        with lock:
            order.append(name)
            results[name] = (resp.status, json.loads(body).get("code") if body.startswith(b"{") else None)
        conn.close()

    auth = {"Authorization": "Bearer " + held.token}
    waiters = [threading.Thread(target=call, args=(f"wait{i}", f"{V2}/sources?min_position={pos}&wait_ms=5000", auth))
               for i in range(4)]  # twice BEAMPIPE_API_THREADS
    for t in waiters:
        t.start()
    # All four are put off (registered with the projection watch) before the checks below,
    # which are about order.
    def read_waits():
        text = held.request("GET", V2 + "/metrics")[3]
        m = re.search(r"^beampipe_read_waits (\d+)$", text, re.M)
        return m and int(m.group(1)) == 4
    c.true("the four reads wait without a thread", wait_for("four waiting reads", read_waits, timeout=10))
    controls = [threading.Thread(target=call, args=(n, V2 + "/" + n)) for n in ("health", "ready", "metrics")]
    probe = threading.Thread(target=call, args=("openapi", V2 + "/openapi.json"))  # a handler-pool route
    for t in controls:
        t.start()
    for t in controls:
        t.join(60)
    probe.start()
    for t in waiters + [probe]:
        t.join(60)
    firsts = order[:3]
    c.eq("health, ready and metrics answered while every waiting read was still pending",
         sorted(firsts), ["health", "metrics", "ready"])
    # They wait until the held-back events are declared stalled (2 s) or wait_ms passes.
    c.true("the reads really waited, then answered 503",
           all(results[f"wait{i}"] in ((503, "projection_stalled"), (503, "projection_lag"))
               for i in range(4)))
    c.true("a handler-pool route answered while the waits were pending (they hold no thread)",
           order.index("openapi") < min(order.index(f"wait{i}") for i in range(4)))
    c.eq("health answered", results["health"][0], 200)
    c.eq("metrics answered", results["metrics"][0], 200)
    blocker.stdin.write("ROLLBACK;\n")
    blocker.stdin.close()
    blocker.wait(30)
    held.wait_ready()
    st, _, _, _ = held.request("GET", f"{V2}/sources?min_position={pos}&wait_ms=5000")
    c.eq("once the fence moves the read at that position is served", st, 200)
finally:
    if blocker and blocker.poll() is None:
        blocker.kill()
    held.stop()


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid, window=2.0):
    """CPU seconds the process used per wall second over about `window` seconds."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def answered(sock, payload, timeout):
    """Sends a request on an open connection; the status line's code, or None when nothing
    came back within `timeout`."""
    sock.settimeout(timeout)
    sock.sendall(payload)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return None
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return int(m.group(1)) if m else None


HEALTH = b"GET /api/v2/health HTTP/1.1\r\nHost: t\r\n\r\n"

# --- connection cap and accept() backoff
# Started under an open-file limit of 200, the server serves at most 200 - 128 = 72 connections.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
try:
    capped = Server(extra_env={"BEAMPIPE_READ_TIMEOUT_SECONDS": "300"})
finally:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
conns = []
try:
    capped.wait_ready()
    pid = capped.proc.pid
    idle_fds = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(92):
        conns.append(socket.create_connection(("127.0.0.1", capped.port), timeout=10))
    c.eq("a connection under the cap is served", answered(conns[0], HEALTH, 30), 200)
    c.eq("the 92nd connection waits: the server stopped accepting at 72", answered(conns[-1], HEALTH, 1), None)
    share = cpu_share(pid)
    c.true(f"at the cap the process is idle ({share:.0%} of a CPU)", share < 0.5)
    for s in conns[:30]:
        s.close()
    conns[-1].settimeout(30)
    try:
        late = conns[-1].recv(65536)
    except socket.timeout:
        late = b""
    c.true("once connections close, the waiting one is served", late.startswith(b"HTTP/1.1 200"))
    for s in conns[30:]:
        s.close()
    conns = []

    # accept() failing (EMFILE): lower the running process's limit to just above what it has
    # open once the closed connections are gone.
    nfds = wait_for("the closed connections to be released",
                    lambda: (n := len(os.listdir(f"/proc/{pid}/fd"))) <= idle_fds + 2 and n)
    before = sum(1 for line in capped.log if "accept failed" in line)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 4, hard))
    try:
        for _ in range(30):
            conns.append(socket.create_connection(("127.0.0.1", capped.port), timeout=10))
        wait_for("the process to run out of file descriptors",
                 lambda: len(os.listdir(f"/proc/{pid}/fd")) >= nfds + 4)
        share = cpu_share(pid)
        c.true(f"accept() failing with EMFILE does not spin ({share:.0%} of a CPU)", share < 0.5)
        failed_lines = sum(1 for line in capped.log if "accept failed" in line) - before
        c.true(f"accept failures are logged, rate-limited ({failed_lines} lines)", 1 <= failed_lines <= 2)
    finally:
        for s in conns:
            s.close()
        conns = []
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (200, hard))
    st, _, _, _ = capped.request("GET", V2 + "/health")
    c.eq("after the connections close, health answers again", st, 200)
    st, _, _, _ = capped.request("GET", V2 + "/ready")
    c.eq("and the server is ready", st, 200)
finally:
    for s in conns:
        s.close()
    capped.stop()

c.finish()
