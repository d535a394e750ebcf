"""Shared checks of time travel (issue #22): a Recorder keeps every distinct live answer of an
entity while it changes; check_time_travel proves each equals the time-travel answer at the
event that produced it, and that the answer at the last event is the live one."""
import datetime
import json
import threading

from harness import V2


def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Recorder:
    """Reads the live answer at `path` as fast as it can and keeps each distinct one."""

    def __init__(self, srv, path):
        self.srv, self.path, self.seen, self.stop = srv, path, {}, False
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                st, row, _, _ = self.srv.request("GET", self.path)
            except OSError:
                return
            if st == 200:
                self.seen.setdefault(json.dumps(row, sort_keys=True), row)

    def finish(self):
        self.stop = True
        self.thread.join()
        return list(self.seen.values())


def as_of(srv, path, **q):
    query = "&".join(f"{k}={v}" for k, v in q.items()).replace("+", "%2B")
    st, row, _, _ = srv.request("GET", f"{path}?{query}")
    return st, row


def check_time_travel(c, srv, name, path, recorded, min_recorded=2):
    """`path` is the live answer (…/executions/{id} or …/sources/{id}); its /history lists the
    events. Returns the history's steps."""
    st, hist, _, _ = srv.request("GET", f"{path}/history")
    steps = hist["steps"]
    last = steps[-1]["position"]
    _, live = srv.request("GET", f"{path}?min_position={last}")[:2]
    st, then = as_of(srv, path, as_of_position=last)
    c.eq(f"{name}: at its last position, the live answer exactly", (st, then), (200, live))
    st, later = as_of(srv, path, as_of_position=last + 1000000)
    c.eq(f"{name}: after it, the same", later, live)
    c.eq(f"{name}: before its first event it did not exist",
         as_of(srv, path, as_of_position=steps[0]["position"] - 1)[0], 404)
    # Every live answer seen while it changed is the time-travel answer at the event that made
    # it: the last event recorded at its updated_at.
    matched = 0
    for row in recorded:
        at = [s for s in steps if instant(s["recorded_at"]) == instant(row["updated_at"])]
        if not at:
            continue
        st, then = as_of(srv, path, as_of_position=at[-1]["position"])
        matched += then == row
        if then != row:
            diff = {k: (row.get(k), then.get(k)) for k in set(row) | set(then) if row.get(k) != then.get(k)}
            print(f"{name}: at {at[-1]['position']} differs: {diff}")
    c.true(f"{name}: every live answer seen ({len(recorded)}) equals the answer as of its event",
           matched == len(recorded) and len(recorded) >= min_recorded)
    # Between two events it is as the earlier one left it; by time as by position.
    for a, b in zip(steps, steps[1:]):
        if b["position"] - a["position"] > 1:
            c.eq(f"{name}: between two events, as the earlier left it",
                 as_of(srv, path, as_of_position=b["position"] - 1)[1],
                 as_of(srv, path, as_of_position=a["position"])[1])
            break
    mid = steps[len(steps) // 2]
    same_time = [s for s in steps if s["recorded_at"] == mid["recorded_at"]]
    c.eq(f"{name}: as_of a time is the state after its last event by then",
         as_of(srv, path, as_of=mid["recorded_at"])[1],
         as_of(srv, path, as_of_position=same_time[-1]["position"])[1])
    return steps
