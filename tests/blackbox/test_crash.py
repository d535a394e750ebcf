"""Crash test: SIGKILL the server while writers are busy; every acknowledged write survives,
nothing is applied twice, and a replay gives the same read models."""
import os
import signal
import subprocess
import threading

from harness import Checks, Server, fresh_database

c = Checks()
db = fresh_database()
srv = Server(conninfo=db)
srv.wait_ready()
V2 = "/api/v2"
acked = {}  # uuid -> enabled, as last acknowledged
lock = threading.Lock()
stop = threading.Event()


def writer(n):
    i = 0
    while not stop.is_set():
        ident = f"crash-{n}-{i % 40}"
        enabled = (i // 40) % 2 == 0
        try:
            st, row, _, _ = srv.request("POST", V2 + "/sources",
                                        {"project_module": "crash", "source_identifier": ident, "enabled": enabled})
        except Exception:
            return  # the server is gone
        if st == 200:
            with lock:
                acked[row["uuid"]] = row["enabled"]
        i += 1


ts = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
[t.start() for t in ts]
# Wait until a good number of writes went through (bounded), then kill without warning.
for _ in range(2000):
    with lock:
        if len(acked) >= 150:
            break
    threading.Event().wait(0.01)
srv.stop(signal.SIGKILL)
stop.set()
[t.join() for t in ts]
c.true("writes were acknowledged before the kill", len(acked) >= 150)

srv = Server(conninfo=db)
srv.wait_ready()
st, rows, _, _ = srv.request("GET", V2 + "/sources?project_module=crash&limit=500")
by_uuid = {r["uuid"]: r["enabled"] for r in rows}
missing = [u for u in acked if u not in by_uuid]
c.eq("no acknowledged source lost", missing, [])
st, after_restart, _, _ = srv.request("POST", V2 + "/sources",
                                      {"project_module": "crash", "source_identifier": "crash-0-0", "enabled": True})
c.eq("recovered aggregates accept commands", st, 200)
srv.stop()
p = subprocess.run([os.environ["BEAMPIPE_BIN"], "replay", "--verify"], env=dict(os.environ, DATABASE_URL=db),
                   capture_output=True, text=True, timeout=300)
c.eq("replay equals the live read models after the crash", p.returncode, 0)
c.finish()
