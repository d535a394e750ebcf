"""The README's quick start is a test (issue #15): the shell block under "## Quick start" runs
as written, from the repository root, against `./scripts/run --demo` on an empty data folder
(a fresh HOME), and must reach a completed run through the simulated DIM with no network.
Then the same data folder started with --demo again loads nothing.

It needs ports 8080 and 9090 (the README's addresses) and builds nothing new: scripts/run's
build is a no-op once the suite's build is there.
"""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
c = Checks()


def quickstart_block():
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"^## Quick start[^\n]*\n(.*?)^```sh\n(.*?)^```", text, re.S | re.M)
    if not m:
        raise RuntimeError("README.md has no ```sh block under a '## Quick start' heading")
    return m.group(2)


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def beampipe_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if int(fields[2]) == pgid and comm == "beampipe":
            out.append(int(d))
    return out


def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


for port in (8080, 9090):
    if not port_free(port):
        print(f"FAIL port {port} is taken: the quick start uses the README's addresses")
        sys.exit(1)

home = tempfile.mkdtemp(prefix="bp-quickstart-")
os.chmod(home, 0o755)  # the embedded PostgreSQL's user reaches its cluster under it
env = {k: v for k, v in os.environ.items()
       if not k.startswith("BEAMPIPE_") and k not in ("DATABASE_URL", "XDG_DATA_HOME")}
env.update({"HOME": home, "PYTHONDONTWRITEBYTECODE": "1"})
data_dir = os.path.join(home, ".local", "share", "beampipe")
log_path = os.path.join(home, "quickstart.log")
block = quickstart_block()

with open(log_path, "w") as log:
    proc = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", block], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        rc = proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "timeout"
out = open(log_path).read()
c.eq("the quick start block runs to its end", rc, 0)
statuses = [line.strip() for line in out.splitlines()
            if line.strip() in ("pending", "running", "completed", "failed", "cancelled")]
c.eq("the run it executes reaches completed", statuses[-1:] if statuses else None, ["completed"])

try:
    pw_file = os.path.join(data_dir, "demo-admin.password")
    password = open(pw_file).read().strip()
    c.eq("the generated password is kept 0600", stat.S_IMODE(os.stat(pw_file).st_mode), 0o600)
    shown = [line for line in out.splitlines() if "generated password" in line]
    c.eq("the password is printed once", len(shown), 1)
    c.true("the printed password is the kept one", shown and password in shown[0])
    c.eq("the password is nowhere else in the output", out.count(password), 1)

    st, _, body = http("POST", "http://127.0.0.1:8080/api/v2/login",
                       {"username": "admin", "password": password})
    token = json.loads(body)["access_token"]
    st, _, body = http("GET", "http://127.0.0.1:8080/api/v2/executions?limit=10", token=token)
    items = json.loads(body)["items"]
    c.eq("one execution, completed", [(x["status"], x["daliuge_state"] is not None) for x in items],
         [("completed", True)])
    st, _, body = http("GET", "http://127.0.0.1:8080/api/v2/deployment-profiles", token=token)
    c.eq("the demo profile is the default", [(p["name"], p["is_default"]) for p in json.loads(body)],
         [("demo-dim", True)])
    st, _, body = http("GET", "http://127.0.0.1:8080/api/v2/sources?project_module=wallaby_hires",
                       token=token)
    c.eq("both sources discovered", sorted((s["source_identifier"], s["last_checked_at"] is not None)
                                           for s in json.loads(body)),
         [("HIPASSJ1313-15", True), ("HIPASSJ1318-21", True)])
    st, _, body = http("GET", "http://127.0.0.1:8080/api/v2/events?limit=1000", token=token)
    feed = json.loads(body)["events"]
    actors = {e["metadata"].get("actor") for e in feed if e["stream_id"].startswith(("project-", "source-"))}
    c.true("the demo's writes are recorded as system:demo", "system:demo" in actors)
    c.true("the run was submitted once", sum(e["type"] == "SubmissionIntended" for e in feed) == 1)
    st, hdrs, _ = http("GET", "http://127.0.0.1:8080/")
    c.eq("GET / redirects a browser to the console", (st, hdrs.get("Location")), (302, "/console"))
    st, hdrs, _ = http("GET", "http://127.0.0.1:8080/console")
    c.eq("which the binary serves", (st, hdrs.get("Content-Type")), (200, "text/html; charset=utf-8"))
    graph = os.path.join(data_dir, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph")
    c.true("the demo graph lies under BEAMPIPE_HOME (the data folder)", os.path.isfile(graph))
    # The doctor on a fresh demo: every check green, from the CLI (which finds the running
    # embedded PostgreSQL) and from the API alike.
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "doctor"], env=env, cwd=home, capture_output=True,
                       text=True, timeout=120)
    c.eq("beampipe doctor on the demo: no warning, no failure",
         (r.returncode, [x for x in r.stdout.splitlines() if x.startswith(("WARN", "FAIL"))]), (0, []))
    c.true("it checked the demo's project and profile",
           "project.valid" in r.stdout and "[demo-dim]" in r.stdout and r.stdout.rstrip().endswith("Result: ready"))
    st, _, body = http("GET", "http://127.0.0.1:8080/api/v2/diagnostics", token=token)
    diag = json.loads(body)
    c.eq("GET /diagnostics agrees", (st, diag["ok"], diag["summary"]["warn"], diag["summary"]["fail"], diag["profile"]),
         (200, True, 0, 0, "demo-dim"))
finally:
    # Stop the server the block left running (only beampipe: it stops its own PostgreSQL).
    for pid in beampipe_pids(proc.pid):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 60
    while beampipe_pids(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    c.eq("beampipe stops on SIGTERM", beampipe_pids(proc.pid), [])

cluster_pid = [os.path.join(r, "postmaster.pid") for r, _, files in os.walk(data_dir)
               if "postmaster.pid" in files]
c.eq("the embedded PostgreSQL is stopped with it", cluster_pid, [])

# --demo on a database that already has a project: it says so and changes nothing.
env2 = dict(env, BEAMPIPE_BIND_ADDR="127.0.0.1:0", BEAMPIPE_METRICS_BIND_ADDR="127.0.0.1:0")
before = os.stat(os.path.join(data_dir, "demo-admin.password")).st_mtime_ns
srv = subprocess.Popen([os.environ["BEAMPIPE_BIN"], "start", "--demo"], env=env2, cwd=home,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
said, port = [], None
deadline = time.time() + 120
while time.time() < deadline and port is None:
    line = srv.stdout.readline()
    if not line:
        break
    said.append(line)
    m = re.search(r"serving http://127\.0\.0\.1:(\d+)/api/v2", line)
    if m:
        port = int(m.group(1))
c.true("a second --demo says the database already has a project",
       any("already has a project" in line for line in said))
c.true("and loads nothing", not any("demo loaded" in line for line in said))
c.eq("the password file is left as it was",
     os.stat(os.path.join(data_dir, "demo-admin.password")).st_mtime_ns, before)
if port:
    st, _, body = http("POST", f"http://127.0.0.1:{port}/api/v2/login",
                       {"username": "admin", "password": password})
    token = json.loads(body)["access_token"]
    st, _, body = http("GET", f"http://127.0.0.1:{port}/api/v2/project-configs/wallaby_hires/versions",
                       token=token)
    c.eq("still one config revision", len(json.loads(body)), 1)
    st, _, body = http("GET", f"http://127.0.0.1:{port}/api/v2/deployment-profiles", token=token)
    c.eq("still one profile", len(json.loads(body)), 1)
srv.send_signal(signal.SIGTERM)
try:
    c.eq("the second start stops cleanly", srv.wait(timeout=60), 0)
except subprocess.TimeoutExpired:
    srv.kill()
    c.true("the second start stops within 60 s", False)

if c.failed:
    print(out[-6000:])
else:
    import shutil
    shutil.rmtree(home, ignore_errors=True)
c.finish()
