"""The history checker (history.py) finds what it must: an acknowledged command missing or
applied twice, a failed command that left events, a gap or repeat in a stream's versions, a key
registered twice; and passes a consistent history, indeterminate operations included."""
from harness import Checks
from history import History, check

c = Checks()


def op(i, kind, key, outcome, changes=True):
    return {"id": f"op-{i}", "kind": kind, "key": key, "outcome": outcome, "changes": changes,
            "status": 200 if outcome == "ok" else 503, "detail": None}


def ev(stream, version, corr, etype="SourceUpdated", key=None):
    data = {"source_identifier": key} if key else {}
    return {"stream_id": stream, "stream_version": version, "event_type": etype, "data": data,
            "metadata": {"correlation_id": corr}}


def key_of(e):
    return e["data"].get("source_identifier") if e["event_type"] == "SourceRegistered" else None


def problems(ops, events):
    h = History()
    h.ops = ops
    return check(h, events, key_of)


good_ops = [op(1, "register", "A", "ok"), op(2, "toggle", "A", "ok"), op(3, "register", "B", "info"),
            op(4, "register", "B", "ok", changes=False), op(5, "toggle", "A", "fail"),
            op(6, "toggle", "A", "info")]
good = [ev("s-a", 1, "op-1", "SourceRegistered", "A"), ev("s-a", 2, "op-2"),
        ev("s-b", 1, "op-3", "SourceRegistered", "B"), ev("s-a", 3, "op-6")]
c.eq("a consistent history passes (indeterminate ones may or may not have landed)",
     problems(good_ops, good), [])
c.true("an acknowledged command without its event is found",
       any("left 0 events" in p for p in problems(good_ops, [e for e in good if e["metadata"]["correlation_id"] != "op-2"])))
c.true("an acknowledged command applied twice is found",
       any("left 2 events" in p for p in problems(good_ops, good + [ev("s-a", 4, "op-2")])))
c.true("a failed command that left an event is found",
       any(p.startswith("failed toggle") for p in problems(good_ops, good + [ev("s-a", 4, "op-5")])))
c.true("a gap in a stream's versions is found",
       any("versions" in p for p in problems(good_ops, [e for e in good if e["stream_version"] != 2])))
c.true("a repeated version is found",
       any("versions" in p for p in problems(good_ops, good + [ev("s-b", 1, "y")])))
c.true("a key registered twice is found",
       any("registered 2 times" in p for p in problems(good_ops, good + [ev("s-b2", 1, "z", "SourceRegistered", "B")])))
c.true("an acknowledged key never registered is found",
       any("acknowledged key B registered 0 times" in p
           for p in problems(good_ops, [e for e in good if e["stream_id"] != "s-b"])))
c.finish()
