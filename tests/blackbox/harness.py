"""Starts build/beampipe against a fresh database in the test cluster and speaks HTTP to it.

Only the Python standard library is used, so the black-box tests need nothing beyond python3.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid


REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


# BEAMPIPE_HOME of every server the tests start: the temporary folder, where test_graph()
# writes and where wallaby_config() copies a graph from elsewhere.
GRAPH_HOME = os.path.realpath(tempfile.gettempdir())


def in_graph_home(path):
    """`path` if it lies under GRAPH_HOME, else a copy of it there (same bytes)."""
    real = os.path.realpath(path)
    if real.startswith(GRAPH_HOME + os.sep):
        return real
    with open(real, "rb") as f:
        data = f.read()
    import hashlib
    folder = os.path.join(GRAPH_HOME, "beampipe-test-graphs")
    os.makedirs(folder, exist_ok=True)
    # Named without the full digest: tests edit the config's sha256 line by its value.
    base = os.path.splitext(os.path.basename(real))[0]
    copy = os.path.join(folder, f"{base}-{hashlib.sha256(data).hexdigest()[:12]}.graph")
    if not os.path.exists(copy):
        tmp = copy + f".{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, copy)
    return copy


def cluster_conninfo():
    d = os.environ["BEAMPIPE_TEST_PG_DIR"]
    with open(os.path.join(d, "conninfo")) as f:
        return f.read().strip()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fresh_database():
    ci = cluster_conninfo()
    name = "bb_" + uuid.uuid4().hex
    psql = "/usr/lib/postgresql/15/bin/psql"
    subprocess.run([psql, ci, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return re.sub(r"dbname=\S+", f"dbname={name}", ci)


# Every server a test starts creates this superuser on a fresh database (the first-superuser
# bootstrap), and request() signs in as it on the first request that needs a token.
ADMIN_USERNAME = "bbadmin"
ADMIN_PASSWORD = "harness-admin-password"
JWT_SECRET = "harness-jwt-secret-0123456789abcdef0123"
# Routes that answer without a token.
# (GET /ready is open too, but answers anonymous callers with the status only: the harness
# signs in for it.)
OPEN_PATHS = {"/api/v2/health", "/api/v2/health/tap", "/api/v2/metrics",
              "/api/v2/login", "/api/v2/refresh", "/api/v2/logout", "/api/v2/openapi.json"}


class Server:
    def __init__(self, conninfo=None, extra_env=None, args=("serve",)):
        self.conninfo = conninfo or fresh_database()
        env = dict(os.environ)
        # Tests opt in to the scheduler: its ticks are events and would shift event counts.
        env.update({"DATABASE_URL": self.conninfo, "BEAMPIPE_BIND_ADDR": "127.0.0.1:0",
                    "BEAMPIPE_SCHEDULER_ENABLED": "false",
                    "BEAMPIPE_ADMIN_USERNAME": ADMIN_USERNAME,
                    "BEAMPIPE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "BEAMPIPE_JWT_SECRET": JWT_SECRET,
                    # Tests create many executions from one address; test_auth checks the limits.
                    "BEAMPIPE_RATE_LIMIT_REQUESTS": "1000000",
                    # Many servers run side by side: each metrics listener takes a free port.
                    "BEAMPIPE_METRICS_BIND_ADDR": "127.0.0.1:0",
                    # graph.path is confined to BEAMPIPE_HOME: the tests' graphs live in the
                    # temporary folder (wallaby_config copies the repository's there).
                    "BEAMPIPE_HOME": GRAPH_HOME})
        env.update(extra_env or {})
        self.env = env
        self.token = None
        # The highest X-Beampipe-Position answered so far: passed as ?min_position, a read of
        # one read model sees at least what an earlier read of another showed.
        self.seen_position = 0
        self.proc = subprocess.Popen([os.environ["BEAMPIPE_BIN"], *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        self.port = None
        self.metrics_port = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("beampipe exited: " + self.proc.stderr.read())
                continue
            mm = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            if mm:
                self.metrics_port = int(mm.group(1))
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/api/v2", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            raise RuntimeError("beampipe did not report its URL")
        # Drain the pipes so a chatty server never blocks on a full pipe; keep the tail.
        import collections
        import threading
        self.log = collections.deque(maxlen=400)

        def drain(stream):
            for line in stream:
                self.log.append(line.rstrip())
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=drain, args=(stream,), daemon=True).start()

    def wait_ready(self, timeout=60, signed_in=True):
        """Polls /ready until it answers 200 (projections caught up) or the deadline passes;
        returns the signed-in answer (signed_in=False: the anonymous one, no sign-in)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, body, _, _ = self.request("GET", "/api/v2/ready", auth=False)
            if st == 200:
                return self.request("GET", "/api/v2/ready")[1] if signed_in else body
            time.sleep(0.05)
        raise RuntimeError("beampipe never became ready")

    def login(self, username=None, password=None):
        """Signs in (as the harness superuser by default); returns the token response."""
        st, tok, _, _ = self.request("POST", "/api/v2/login", {
            "username": username or self.env["BEAMPIPE_ADMIN_USERNAME"],
            "password": password or self.env["BEAMPIPE_ADMIN_PASSWORD"]}, auth=False)
        if st != 200:
            raise RuntimeError(f"login failed: {st} {tok}")
        return tok

    def read_after(self, path):
        """GET `path` seeing at least what earlier answers showed (?min_position): a read of one
        read model (a source's events) after a read of another (the source)."""
        sep = "&" if "?" in path else "?"
        return self.request("GET", f"{path}{sep}min_position={self.seen_position}")

    def request(self, method, path, body=None, headers=None, raw_body=None, auth=True):
        """auth=True sends the harness superuser's bearer token unless the headers carry an
        Authorization of their own or the route is open; auth=False sends none."""
        hdrs = dict(headers or {})
        if auth and "Authorization" not in hdrs and path.split("?")[0] not in OPEN_PATHS:
            if self.token is None:
                self.token = self.login()["access_token"]
            hdrs["Authorization"] = "Bearer " + self.token
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        if resp.getheader("Content-Type", "").startswith("text/event-stream"):
            conn.close()  # an event stream never ends: its head is the answer
            return resp.status, None, dict(resp.getheaders()), ""
        text = resp.read().decode()
        conn.close()
        if resp.getheader("X-Beampipe-Position"):
            self.seen_position = max(self.seen_position, int(resp.getheader("X-Beampipe-Position")))
        parsed = None
        if text and resp.getheader("Content-Type", "").startswith("application/json"):
            parsed = json.loads(text)
        return resp.status, parsed, dict(resp.getheaders()), text

    def raw(self, payload: bytes):
        """Sends bytes as they are and returns the raw response."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and stop reading before a refused body is fully sent
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    m = re.search(rb"Content-Length: (\d+)", head, re.I)
                    if m and len(rest) >= int(m.group(1)):
                        break
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        return out.decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def create_user(conninfo, username, password):
    """A plain (not superuser) account made with `beampipe admin create-user`; returns the
    command's exit code."""
    with tempfile.NamedTemporaryFile("w", delete=False) as pw:
        pw.write(password + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_ADMIN")}
    try:
        r = subprocess.run([os.environ["BEAMPIPE_BIN"], "admin", "create-user", "--username", username,
                            "--email", username + "@example.org", "--password-file", pw.name,
                            "--database-url", conninfo], capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0:  # say why (an abort under the sanitizers prints its report here)
            print(f"create-user {username} exited {r.returncode}:\n{r.stderr[-4000:]}")
        return r.returncode
    finally:
        os.unlink(pw.name)


class Checks:
    """A tiny runner: each check is counted, failures are listed, the exit code tells ctest."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def eq(self, what, got, want):
        if got == want:
            self.passed += 1
        else:
            self.failed.append(f"{what}: got {got!r}, want {want!r}")

    def true(self, what, cond):
        self.eq(what, bool(cond), True)

    def finish(self):
        for f in self.failed:
            print("FAIL", f)
        print(f"{self.passed} passed, {len(self.failed)} failed")
        sys.exit(1 if self.failed else 0)


REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "reference")
V2 = "/api/v2"


def upload_config(srv, text):
    st, body, _, _ = srv.request("POST", V2 + "/project-configs", raw_body=text.encode(),
                                 headers={"Content-Type": "application/yaml"})
    if st not in (200, 201):  # 200: identical to the active revision, nothing recorded
        raise RuntimeError(f"config upload failed: {st} {body}")
    return body


def wallaby_config(graph_path=None):
    """The reference WALLABY config; with graph_path, the graph comes from that file (offline)
    with its SHA-256 pinned instead of the GitHub URL."""
    with open(os.path.join(REFERENCE, "wallaby_hires.v1.yaml")) as f:
        text = f.read()
    if graph_path:
        import hashlib
        graph_path = in_graph_home(graph_path)
        with open(graph_path, "rb") as g:
            sha = hashlib.sha256(g.read()).hexdigest()
        lines = text.splitlines()
        i = lines.index("graph:")
        lines[i + 1] = f"  path: {graph_path}\n  sha256: \"{sha}\""
        text = "\n".join(lines) + "\n"
    return text


def ready_sources(srv, module, idents, timeout=60):
    """Registers, enables and discovers the sources; returns {ident: uuid} once discovered."""
    ids = {}
    for ident in idents:
        st, row, _, _ = srv.request("POST", V2 + "/sources", {"project_module": module, "source_identifier": ident,
                                                               "enabled": True})
        ids[ident] = row["uuid"]
    srv.request("POST", V2 + "/sources/discover", {"project_module": module, "source_identifiers": list(idents)})
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = [srv.request("GET", f"{V2}/sources/{u}")[1] for u in ids.values()]
        if all(r["discovery_request_id"] is None and r["last_checked_at"] for r in rows):
            return ids
        time.sleep(0.05)
    raise RuntimeError("discovery did not settle")


def create_profile(srv, name, deployment, module="wallaby_hires", is_default=True, translation=None, **extra):
    body = {"name": name, "project_module": module, "is_default": is_default,
            "translation": translation or {"algo": "metis", "num_par": 1, "num_islands": 0},
            "deployment": deployment}
    body.update(extra)
    st, row, _, _ = srv.request("POST", V2 + "/deployment-profiles", body)
    if st != 201:
        raise RuntimeError(f"profile create failed: {st} {row}")
    return row


def read_events(srv, after=0):
    """Every event of the /api/v2/events feed after a position, page by page."""
    events = []
    while True:
        page = srv.request("GET", f"{V2}/events?limit=1000&after={after}")[1]
        events += page["events"]
        if len(page["events"]) < 1000:
            return events
        after = page["next_after"]


DISCOVERY_OUTCOMES = ("discovery.changed", "discovery.unchanged", "discovery.no_datasets",
                      "discovery.error")


def latest_discovery_outcome(events):
    """The newest discovery outcome in a source's events (newest first). Other rows may be
    newer: an automated execution of the source, for one."""
    return next(e for e in events if e["event_type"] in DISCOVERY_OUTCOMES)


def wait_for(what, fn, timeout=60, srv=None):
    """Polls fn() until it returns something truthy and returns it; on timeout prints the
    alert lines of srv's log (when given) and raises."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    if srv is not None:
        print("\n".join(line for line in srv.log if "alert" in line.lower())[-3000:])
    raise RuntimeError("timed out waiting for " + what)


def wait_execution(srv, eid, pred, timeout=90):
    """Polls GET /executions/{id} until pred(row) holds; returns the row."""
    deadline = time.time() + timeout
    row = None
    while time.time() < deadline:
        st, row, _, _ = srv.request("GET", f"{V2}/executions/{eid}")
        if st == 200 and pred(row):
            return row
        time.sleep(0.1)
    raise RuntimeError(f"execution {eid} did not reach the expected state; last: "
                       f"{ {k: row.get(k) for k in ('status', 'submission_state', 'scheduler_state', 'daliuge_state', 'last_error')} if row else None}")


STANDINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "standins")


class DaliugeStandin:
    """tests/standins/daliuge_standin.py (TM + DIM) as a child process on loopback ports."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(STANDINS, "daliuge_standin.py"),
                                      "--watch-stdin", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = json.loads(self.proc.stdout.readline())
        self.tm_port, self.dim_port = info["tm_port"], info["dim_port"]

    def dim(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.dim_port, timeout=30)
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.getheader("Content-Type", "").startswith("text/event-stream"):
            conn.close()  # an event stream never ends: its head is the answer
            return resp.status, None, dict(resp.getheaders()), ""
        text = resp.read().decode()
        conn.close()
        return resp.status, (json.loads(text) if text else None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_graph(folder, **node_fields):
    """A copy of the reference WALLABY graph whose beampipe-ingest node carries extra fields
    (e.g. beampipe_test_outcome="error", beampipe_test_exit_code=3) that the stand-ins act on.
    Returns its path."""
    with open(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph")) as f:
        g = json.load(f)
    node = next(n for n in g["nodeDataArray"] if n["name"] == "beampipe-ingest")
    for name, value in node_fields.items():
        node["fields"].append({"name": name, "value": value, "defaultValue": value, "type": "String",
                               "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "parameterType": "ComponentParameter",
                               "usage": "NoPort", "readonly": False, "description": "", "encoding": "pickle",
                               "precious": False, "options": [], "positional": False})
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "test-" + "-".join(f"{k}={v}" for k, v in sorted(node_fields.items())) + ".graph")
    with open(path, "w") as f:
        json.dump(g, f)
    return path
