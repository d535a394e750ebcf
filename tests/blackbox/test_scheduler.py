"""Scheduler election across two processes sharing one PostgreSQL: exactly one ticks; after the
leader is SIGKILLed the other takes over once (never before) its lease expired, with a newer fencing token;
/ready names the lease holder."""
import datetime
import signal
import time

from harness import Checks, Server, fresh_database

V2 = "/api/v2"
ENV = {"BEAMPIPE_SCHEDULER_ENABLED": "true", "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1",
       "BEAMPIPE_SCHEDULER_LEASE_MS": "2000"}
c = Checks()
db = fresh_database()
a = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_NODE_ID="node-a"))
a.wait_ready()
b = None


def ticks(srv):
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    return [(e["data"]["node"], e["data"]["lease_token"]) for e in feed["events"] if e["type"] == "SchedulerTicked"]


def tick_times(srv, node):
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    return [ts(e["recorded_at"]) for e in feed["events"]
            if e["type"] == "SchedulerTicked" and e["data"]["node"] == node]


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_for(pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return None


try:
    c.true("the first scheduler ticks right away", wait_for(lambda: ticks(a)))
    b = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_NODE_ID="node-b"))
    b.wait_ready()
    wait_for(lambda: len(ticks(a)) >= 4)
    seen = ticks(a)
    c.eq("only the leader ticks", {n for n, _ in seen}, {"node-a"})
    c.eq("one lease token while it leads", {t for _, t in seen}, {1})
    c.eq("/ready names the leader", b.request("GET", V2 + "/ready")[1]["scheduler"]["leader"], "node-a")

    a.stop(signal.SIGKILL)
    # The dead leader's lease as it left it: the stand-by may not lead before it expires.
    held_until = ts(b.request("GET", V2 + "/ready")[1]["scheduler"]["expires_at"])
    took_over = wait_for(lambda: [t for t in ticks(b) if t[0] == "node-b"], timeout=30)
    c.true("the stand-by takes over", bool(took_over))
    c.true("not before the dead leader's lease expired", min(tick_times(b, "node-b")) >= held_until)
    c.eq("with a newer fencing token", took_over[0][1], 2)
    after = ticks(b)
    c.true("no tick from the dead leader after the takeover",
           all(n == "node-b" for n, _ in after[after.index(took_over[0]):]))
    c.eq("/ready names the new leader", b.request("GET", V2 + "/ready")[1]["scheduler"]["leader"], "node-b")
finally:
    a.stop()
    if b:
        b.stop()
c.finish()
