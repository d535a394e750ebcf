"""beampipe as a background service (issue #21, spec §11.1 Run family): `start --detach` answers
once the service serves, a second start is refused, `logs` shows its log, `stop` ends it cleanly,
`restart` brings it back, and the database URL is never on the service's command line."""
import os
import subprocess
import tempfile
import urllib.request

from harness import ADMIN_PASSWORD, ADMIN_USERNAME, JWT_SECRET, Checks, fresh_database

c = Checks()
data = tempfile.mkdtemp(prefix="bp-service-")
db = fresh_database()
env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_") and k != "DATABASE_URL"}
env.update(BEAMPIPE_ADMIN_USERNAME=ADMIN_USERNAME, BEAMPIPE_ADMIN_PASSWORD=ADMIN_PASSWORD, BEAMPIPE_JWT_SECRET=JWT_SECRET,
           BEAMPIPE_METRICS_BIND_ADDR="127.0.0.1:0", BEAMPIPE_SCHEDULER_ENABLED="false")
BIN = os.environ["BEAMPIPE_BIN"]


def bp(*argv):
    r = subprocess.run([BIN, *argv, "--data-dir", data], capture_output=True, text=True, env=env, timeout=180)
    return r.returncode, r.stdout, r.stderr


def health(url):
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as r:
            return r.status
    except OSError:
        return None


def pid():
    with open(os.path.join(data, "beampipe.pid")) as f:
        return int(f.read())


try:
    rc, out, err = bp("start", "--detach", "--bind", "127.0.0.1:0", "--database-url", db)
    c.eq("start --detach answers once it serves", (rc, "serving http://" in out), (0, True))
    url = out.split("serving ")[1].split(";")[0] if rc == 0 else ""
    c.eq("the detached service answers", health(url), 200)
    with open(f"/proc/{pid()}/cmdline", "rb") as f:
        cmdline = f.read().decode()
    c.true("the database URL is not on its command line", db not in cmdline and "dbname" not in cmdline)
    c.eq("it runs in its own session", os.getsid(pid()), pid())
    rc, out, err = bp("start", "--detach", "--bind", "127.0.0.1:0", "--database-url", db)
    c.eq("a second start is refused", (rc, "already running" in err), (1, True))
    rc, out, err = bp("logs", "--lines", "200")
    c.eq("logs show the service's log", (rc, "serving http://" in out), (0, True))
    first = pid()
    rc, out, err = bp("restart", "--bind", "127.0.0.1:0", "--database-url", db)
    c.eq("restart", (rc, "serving http://" in out), (0, True))
    url2 = out.split("serving ")[1].split(";")[0] if rc == 0 else ""
    c.true("a new process serves", pid() != first and health(url2) == 200)
    c.true("the old one is gone", not os.path.exists(f"/proc/{first}"))
    rc, out, err = bp("stop")
    c.eq("stop", (rc, "stopped" in out, os.path.exists(os.path.join(data, "beampipe.pid"))), (0, True, False))
    c.eq("nothing answers after the stop", health(url2), None)
    rc, out, err = bp("logs", "--lines", "400")
    c.true("the log tells of the clean shutdown", "shutting down" in out)
    rc, out, err = bp("stop")
    c.eq("stopping what is not running is fine", (rc, "not running" in out), (0, True))
    with open(os.path.join(data, "beampipe.pid"), "w") as f:
        f.write("1\n")
    rc, out, err = bp("stop")
    c.eq("a pid that is not beampipe's is never signalled", (rc, "not running" in out), (0, True))
    rc, out, err = bp("start", "--detach", "--bind", "not-an-address", "--database-url", db)
    c.eq("a start that fails says why", (rc, "exited during its start" in err), (1, True))
finally:
    bp("stop")
c.finish()
