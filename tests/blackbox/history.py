"""A Jepsen-style history of commands and its checker (issue #23).

Each client operation is recorded as invoke, then ok, fail or info (indeterminate: the command
may or may not have been applied: a timeout, a connection cut mid-request, a forward that got no
answer). Every operation sends its own X-Correlation-Id, which the store keeps in the metadata of
every event it causes, so the checker can find an operation's events in the store:

- an ok operation that must change something has its events exactly once;
- a failed operation left no event;
- every stream's versions run 1..n without a gap or a repeat;
- a key (e.g. a source identifier) registered by any number of attempts exists exactly once when
  one of them was acknowledged.
"""
import http.client
import json
import threading
import time
import uuid

# 503 answers that say the command never reached an aggregate: definite failures. Any other 503
# (e.g. "forwarding to X failed") is indeterminate.
NEVER_SENT = ("is moving between members", "not reachable from here yet",
              "this node does not hold the shard")


class History:
    def __init__(self):
        self.ops = []
        self.lock = threading.Lock()

    def call(self, port, token, method, path, body, kind, key, changes=True, timeout=40):
        """Runs one HTTP command against 127.0.0.1:port and records it; answers (outcome,
        status, parsed body)."""
        op = {"id": str(uuid.uuid4()), "kind": kind, "key": key, "port": port, "changes": changes,
              "invoke": time.time()}
        status, parsed, outcome = None, None, "info"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request(method, path, body=json.dumps(body).encode(), headers={
                "Authorization": "Bearer " + token, "Content-Type": "application/json",
                "X-Correlation-Id": op["id"]})
            resp = conn.getresponse()
            status = resp.status
            text = resp.read().decode()
            conn.close()
            parsed = json.loads(text) if text.startswith("{") else None
            if 200 <= status < 300:
                outcome = "ok"
            elif status == 503:
                detail = (parsed or {}).get("detail", "")
                outcome = "fail" if any(s in detail for s in NEVER_SENT) else "info"
            elif 400 <= status < 500:
                outcome = "fail"
        except ConnectionRefusedError:
            outcome = "fail"  # nothing listened: never sent
        except (OSError, http.client.HTTPException):
            outcome = "info"  # cut or timed out mid-request
        op.update(complete=time.time(), status=status, outcome=outcome,
                  detail=(parsed or {}).get("detail") if isinstance(parsed, dict) else None)
        with self.lock:
            self.ops.append(op)
        return outcome, status, parsed

    def counts(self):
        out = {}
        for op in self.ops:
            out[op["outcome"]] = out.get(op["outcome"], 0) + 1
        return out


def check(history, events, registered_key):
    """`events`: every stored event as dicts with stream_id, stream_version, event_type, data,
    metadata. `registered_key(event)` answers the key an event registers (or None). Answers a
    list of problems (empty: the history is consistent)."""
    problems = []
    by_corr = {}
    for e in events:
        by_corr.setdefault((e["metadata"] or {}).get("correlation_id"), []).append(e)
    for op in history.ops:
        mine = by_corr.get(op["id"], [])
        if op["outcome"] == "ok" and op["changes"] and len(mine) != 1:
            problems.append(f"ok {op['kind']} {op['key']} ({op['id']}) left {len(mine)} events")
        if op["outcome"] == "fail" and mine:
            problems.append(f"failed {op['kind']} {op['key']} ({op['id']}, {op['status']} "
                            f"{op['detail']}) left {len(mine)} events")
    versions = {}
    for e in events:
        versions.setdefault(e["stream_id"], []).append(e["stream_version"])
    for stream, vs in versions.items():
        if sorted(vs) != list(range(1, len(vs) + 1)):
            problems.append(f"stream {stream} has versions {sorted(vs)[:10]}...")
    registered = {}
    for e in events:
        k = registered_key(e)
        if k is not None:
            registered[k] = registered.get(k, 0) + 1
    acked = {op["key"] for op in history.ops if op["kind"] == "register" and op["outcome"] == "ok"}
    for k in sorted(acked):
        if registered.get(k, 0) != 1:
            problems.append(f"acknowledged key {k} registered {registered.get(k, 0)} times")
    for k, n in registered.items():
        if n > 1:
            problems.append(f"key {k} registered {n} times")
    return problems
