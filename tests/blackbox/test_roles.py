"""Process roles on one database: `serve --worker false` answers the API but runs no work;
`beampipe worker` runs discovery (and executions, and the scheduler election) without an API.
Work requested through the API-only process is done by the worker process."""
import os
import re
import urllib.request
import subprocess
import time

from harness import Checks, Server, fresh_database, upload_config, wallaby_config

V2 = "/api/v2"
c = Checks()
db = fresh_database()
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": ""}
api = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_SCHEDULER_ENABLED="true"), args=("serve", "--worker", "false"))
api.wait_ready()
worker = None
try:
    upload_config(api, wallaby_config())
    st, src, _, _ = api.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                          "source_identifier": "HIPASSJ1313-15", "enabled": True})
    api.request("POST", V2 + "/sources/discover", {"project_module": "wallaby_hires"})
    st, row, _, _ = api.request("GET", f"{V2}/sources/{src['uuid']}")
    c.true("the API-only process records the request", row["discovery_request_id"] is not None)
    st, body, _, _ = api.request("GET", V2 + "/ready")
    c.eq("and does not lead the scheduler", body["scheduler"]["leader"], None)

    env = dict(os.environ, DATABASE_URL=db, BEAMPIPE_SCHEDULER_ENABLED="false",
               BEAMPIPE_METRICS_BIND_ADDR="127.0.0.1:0", **ENV)
    worker = subprocess.Popen([os.environ["BEAMPIPE_BIN"], "worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"metrics on (http://\S+)", worker.stdout.readline())
    c.true("the worker serves metrics on its own listener", m is not None)
    if m:
        with urllib.request.urlopen(m.group(1), timeout=10) as r:
            c.true("worker metrics", b"beampipe_live_actors" in r.read())
    c.true("the worker announces itself", "beampipe worker" in worker.stdout.readline())
    st, body, _, _ = api.request("GET", V2 + "/ready")
    c.eq("/ready sees both processes by their heartbeats",
         (sorted(n["roles"] for n in body["nodes"] if n["alive"]), body["workers_alive"]), (["api", "workers"], 1))
    deadline = time.time() + 60
    while time.time() < deadline:
        st, row, _, _ = api.request("GET", f"{V2}/sources/{src['uuid']}")
        if row["last_checked_at"]:
            break
        time.sleep(0.1)
    c.eq("the worker process ran the discovery", (row["discovery_request_id"], row["discovery_signature"] is not None),
         (None, True))
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "serve", "--worker", "maybe"], env=env, capture_output=True,
                       text=True, timeout=30)
    c.true("a bad --worker value is refused", r.returncode != 0 and "--worker" in r.stderr)
    worker.terminate()
    worker.wait(timeout=30)
    st, body, _, _ = api.request("GET", V2 + "/ready")
    c.eq("a stopped worker is no longer alive", body["workers_alive"], 0)
finally:
    api.stop()
    if worker and worker.poll() is None:
        worker.terminate()
        worker.wait(timeout=30)
c.finish()
