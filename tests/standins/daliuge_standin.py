#!/usr/bin/env python3
"""DALiuGE Translator Manager + Data Island Manager stand-in (protocols §4.1, §5.1, §8.4, §8.5).

Python 3 stdlib only. One process, two loopback ports:
  TM  (FastAPI in DALiuGE): HEAD / -> {}, GET / -> HTML, GET /api/submission_method,
      POST /unroll_and_partition, POST /map.
  DIM (bottle in DALiuGE):  GET /, /api, /api/nodes, /api/submission_method, /api/sessions,
      POST /api/sessions, GET|DELETE /api/sessions/<sid>, GET /api/sessions/<sid>/status,
      POST /api/sessions/<sid>/graph/append, POST /api/sessions/<sid>/deploy,
      POST /api/sessions/<sid>/cancel, GET /api/sessions/<sid>/graph, .../graph/status.

Usage: daliuge_standin.py [--tm-port P] [--dim-port P] [--nodes N] [--finish-after-polls K]
                          [--watch-stdin]
Ports 0 (the default) are ephemeral. When both servers listen, one JSON line is printed on
stdout: {"tm_port": ..., "dim_port": ..., "nodes": [...]}. --watch-stdin exits when stdin
reaches EOF (so a test's child never outlives the test).

Translation (deterministic, not DALiuGE's algorithm):
  * activeGraphConfigId/graphConfigurations are applied first: the config's field values
    replace the node fields' "value" by node id and field id. A missing node is ignored (as
    DALiuGE only warns); a missing field id fails with 500, as DALiuGE's TypeError does.
  * one drop per non-construct LG node; a node inside a Scatter is copied num_of_copies
    times (nested scatters multiply; at most 64 per scatter, 2000 drops in all).
  * drop = {oid, iid, lg_key, name, category, categoryType, dropclass, node:"#p",
    island:"#i", <every field name: value>, links}. Field values are flattened into the drop
    like DALiuGE does, so the beampipe-ingest drop carries the applied "manifest_path" value
    and a node field "beampipe_test_outcome": "error" reaches the drop.
  * links from linkDataArray: app->data gives app.outputs [{oid: port}] and
    data.producers [oid]; data->app gives data.consumers [oid] and app.inputs [{oid: port}];
    app->app gives outputs/inputs. Copies inside the same scatter pair by index, others
    connect all-to-all. oids are "<oid_prefix or 2026-01-01T00:00:00>_<node index>_<copy>".
  * partition p = drop index % num_partitions; island = p % num_islands. A trailing
    reprodata {"rmode": "1", ...} ends the array.
  * /map: node list = ["host:port"] (co_host_dim) + `nodes` form field or GET
    http://host:port/api/nodes; islands = first num_islands entries, NMs the rest.

DIM behaviour:
  * NMs are "127.0.0.<i+1>:8000:5555:6666" for i < --nodes (default 2). Every session exists
    on every NM; /status is the per-node map, an unknown session gives
    {"<node>": {"Status": "Success"}} per node.
  * PRISTINE(0) -> BUILDING(1) on append -> RUNNING(3) on deploy (DEPLOYING is not observable)
    -> FINISHED(4) on the K-th status poll after deploy (--finish-after-polls, default 3;
    K <= 0: only on a control trigger). A node holding an error drop ends FAILED(6).
    cancel -> CANCELLED(5) on every node; a cancel of a FINISHED or FAILED session answers
    555 InvalidSessionState, as DALiuGE does.
  * Error drops: drops whose "beampipe_test_outcome" is "error", plus those marked through
    the control API. While RUNNING they already report {"status": 3, "execStatus": 3}.
  * Errors use DALiuGE's {"type", "args"} envelope. 555 SubManagerException with per-node
    {"type": T, "args": "dummy"} for: duplicate create (SessionAlreadyExistsException),
    unknown session (NoSessionException), deploy/append in the wrong state and graph status
    before RUNNING (InvalidSessionState). 400 InvalidGraphException for drops without a
    node or with a foreign node; 415 with body {"Status": "Success"} for an append that is
    neither application/json nor text/plain; 555 DaliugeException for unknown completed
    uids. gzip request bodies are accepted on append.

Control and inspection, on the DIM port only (JSON in, JSON out):
  GET    /__standin/requests[?server=tm|dim]   recorded requests: server, method, path, query,
                                               headers (lower-case), body (text), fault
  DELETE /__standin/requests                   forget recorded requests
  POST   /__standin/faults    {"server": "tm"|"dim"|null, "method": "POST"|null,
                               "path": "<regex searched in the path>", "count": N (default 1,
                               -1 = forever), "action": "delay"|"http500"|"http503"|"close",
                               "delay_ms": ms}
         delay: sleep, then handle normally (the request takes effect, as after a client
         timeout); http500: bottle's HTML error page; http503: plain 503; close: drop the
         connection without an answer (the request is not handled).
  DELETE /__standin/faults                     remove all faults
  POST   /__standin/config    {"finish_after_polls": K}
  POST   /__standin/sessions/<sid>/error_drops {"uids": [...]} (empty or absent: every drop
                                               whose name contains "beampipe-ingest", else
                                               the first drop)
  POST   /__standin/sessions/<sid>/finish      finish now (FINISHED, or FAILED per node)
  POST   /__standin/sessions/<sid>/node_states {"<node>": <int>, ...} pin per-node states
                                               (e.g. a {4,5} mix)
  GET    /__standin/state                      sessions with states, drop counts, poll counts
  POST   /__standin/reset                      drop sessions, requests, faults; config back
                                               to the command-line values
"""

import argparse
import gzip
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PRISTINE, BUILDING, DEPLOYING, RUNNING, FINISHED, CANCELLED, FAILED = range(7)
ALGORITHMS = ("none", "metis", "mysarkar", "min_num_parts", "pso")
MAX_COPIES = 64
MAX_DROPS = 2000
DEFAULT_OID_PREFIX = "2026-01-01T00:00:00"

BOTTLE_500 = """<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html>
    <head>
        <title>Error: 500 Internal Server Error</title>
    </head>
    <body>
        <h1>Error: 500 Internal Server Error</h1>
        <p>Sorry, the requested URL <tt>'%s'</tt>
           caused an error:</p>
        <pre>Internal Server Error</pre>
    </body>
</html>
"""


class HttpAnswer(Exception):
    """Raised by handlers to answer with a status, a body and a content type."""

    def __init__(self, status, body, content_type="application/json"):
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


def json_answer(status, obj):
    return HttpAnswer(status, json.dumps(obj), "application/json")


class State:
    def __init__(self, nodes, finish_after_polls):
        self.lock = threading.Lock()
        self.nodes = nodes
        self.initial_finish_after_polls = finish_after_polls
        self.dim_port = 0
        self.reset()

    def reset(self):
        self.sessions = {}  # sid -> dict
        self.requests = []
        self.faults = []
        self.finish_after_polls = self.initial_finish_after_polls

    # --- DIM error helpers ---
    def sub_manager(self, inner_type):
        return json_answer(555, {
            "type": "SubManagerException",
            "args": {n: {"type": inner_type, "args": "dummy"} for n in self.nodes},
        })


def payload_type(fault):
    return fault.get("inner_type") or "InvalidSessionState"


def unknown_session(state):
    return state.sub_manager("NoSessionException")


# ---------------------------------------------------------------------------------------------
# Translator Manager
# ---------------------------------------------------------------------------------------------

def fastapi_422(field, msg, typ):
    return json_answer(422, {"detail": [{"loc": ["body", field], "msg": msg, "type": typ}]})


def form_int(form, name, default):
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise fastapi_422(name, "value is not a valid integer", "type_error.integer")


def apply_active_configuration(lg):
    active = lg.get("activeGraphConfigId")
    if not active:
        return
    configs = lg.get("graphConfigurations") or {}
    if active not in configs:
        raise HttpAnswer(500, "Internal Server Error", "text/plain")
    by_id = {n.get("id"): n for n in lg.get("nodeDataArray", [])}
    for node_id, node_cfg in (configs[active].get("nodes") or {}).items():
        node = by_id.get(node_id)
        if node is None:
            continue  # DALiuGE logs a warning
        fields = {f.get("id"): f for f in node.get("fields", [])}
        for field_id, field_cfg in (node_cfg.get("fields") or {}).items():
            if field_id not in fields:
                raise HttpAnswer(500, "Internal Server Error", "text/plain")
            fields[field_id]["value"] = field_cfg.get("value")


RESERVED = {"oid", "iid", "lg_key", "node", "island", "name", "category", "categoryType",
            "inputs", "outputs", "producers", "consumers", "streamingInputs",
            "streamingConsumers", "type", "app", "humanReadableKey", "rank", "reprodata"}


def is_construct(node):
    return node.get("categoryType") == "Construct" or node.get("isGroup") is True


def field_value(node, name):
    for f in node.get("fields", []):
        if f.get("name") == name:
            return f.get("value")
    return None


def unroll(lg, num_partitions, num_islands, oid_prefix):
    nodes = lg.get("nodeDataArray")
    links = lg.get("linkDataArray", [])
    if not isinstance(nodes, list) or not isinstance(links, list):
        raise HttpAnswer(500, "Internal Server Error", "text/plain")
    by_id = {n.get("id"): n for n in nodes if isinstance(n, dict)}

    def scatter_chain(node):
        chain = []
        parent = node.get("parentId")
        seen = set()
        while parent in by_id and parent not in seen:
            seen.add(parent)
            p = by_id[parent]
            if p.get("category") == "Scatter":
                try:
                    k = int(field_value(p, "num_of_copies") or 1)
                except (TypeError, ValueError):
                    k = 1
                chain.append((parent, max(1, min(k, MAX_COPIES))))
            parent = p.get("parentId")
        return list(reversed(chain))

    def copy_indices(chain):
        out = [()]
        for _, k in chain:
            out = [t + (i,) for t in out for i in range(k)]
        return out

    drops = []
    by_node = {}  # lg id -> [(index tuple, drop)]
    for idx, node in enumerate(nodes):
        if not isinstance(node, dict) or is_construct(node):
            continue
        chain = scatter_chain(node)
        for copy in copy_indices(chain):
            if len(drops) >= MAX_DROPS:
                raise HttpAnswer(500, "Internal Server Error", "text/plain")
            iid = "/".join(str(i) for i in copy) if copy else "0"
            p = len(drops) % max(num_partitions, 1)
            drop = {
                "oid": "%s_%d_%s" % (oid_prefix, idx, iid),
                "iid": iid,
                "lg_key": node.get("id"),
                "name": node.get("name"),
                "category": node.get("category"),
                "categoryType": node.get("categoryType"),
                "dropclass": field_value(node, "dropclass"),
                "node": "#%d" % p,
                "island": "#%d" % (p % max(num_islands, 1)),
            }
            for f in node.get("fields", []):
                name = f.get("name")
                if isinstance(name, str) and name not in RESERVED and name != "dropclass":
                    drop[name] = f.get("value")
            drops.append(drop)
            by_node.setdefault(node.get("id"), []).append(((chain, copy), drop))

    def port_name(node, port_id):
        for f in node.get("fields", []):
            if f.get("id") == port_id:
                return f.get("name") or "port"
        return "port"

    def add(drop, key, value):
        drop.setdefault(key, []).append(value)

    for link in links:
        if not isinstance(link, dict):
            continue
        src, dst = by_node.get(link.get("from")), by_node.get(link.get("to"))
        if not src or not dst:
            continue
        port = port_name(by_id[link.get("from")], link.get("fromPort"))
        for (schain, scopy), a in src:
            for (dchain, dcopy), b in dst:
                # Copies of the same scatter pair by index; crossings fan in or out.
                if [c[0] for c in schain] == [c[0] for c in dchain] and scopy != dcopy:
                    continue
                a_app = a["categoryType"] == "Application"
                b_app = b["categoryType"] == "Application"
                if a_app:
                    add(a, "outputs", {b["oid"]: port})
                    add(b, "inputs" if b_app else "producers",
                        {a["oid"]: port} if b_app else a["oid"])
                elif b_app:
                    add(a, "consumers", b["oid"])
                    add(b, "inputs", {a["oid"]: port})
    drops.append({"rmode": "1", "meta_data": {"repro_protocol": 0.1,
                                               "hashing_alg": "_sha3.sha3_256"}})
    return drops


def tm_unroll_and_partition(state, form):
    has_content = bool(form.get("lg_content"))
    has_name = bool(form.get("lg_name"))
    if has_content and has_name:
        raise json_answer(400, {"detail": "Need to supply either an name or content but not both"})
    if not has_content:
        raise json_answer(400, {"detail": "LG content is nonexistent"})
    algorithm = form.get("algorithm", "metis")
    if algorithm not in ALGORITHMS:
        raise fastapi_422("algorithm",
                          "value is not a valid enumeration member; permitted: "
                          + ", ".join("'%s'" % a for a in ALGORITHMS), "type_error.enum")
    num_partitions = form_int(form, "num_partitions", 1)
    num_islands = form_int(form, "num_islands", 1)
    try:
        lg = json.loads(form["lg_content"])
    except ValueError:
        raise json_answer(400, {"detail": "LG content is malformed"})
    if not isinstance(lg, dict):
        raise json_answer(400, {"detail": "LG content is malformed"})
    apply_active_configuration(lg)
    return unroll(lg, num_partitions, num_islands, form.get("oid_prefix") or DEFAULT_OID_PREFIX)


def fetch_nodes(host, port):
    with urllib.request.urlopen("http://%s:%s/api/nodes" % (host, port), timeout=10) as r:
        return json.loads(r.read().decode())


def tm_map(state, form):
    try:
        pgt = json.loads(form.get("pgt_content", ""))
    except ValueError:
        raise HttpAnswer(500, "Internal Server Error", "text/plain")
    host = form.get("host") or "localhost"
    port = form_int(form, "port", 8001)
    num_islands = form_int(form, "num_islands", 1)
    co_host_dim = (form.get("co_host_dim") or "true").lower() in ("1", "true", "yes", "on")
    if form.get("nodes"):
        dim_nodes = [n.strip() for n in form["nodes"].split(",") if n.strip()]
    else:
        try:
            dim_nodes = fetch_nodes(host, port)
        except (OSError, ValueError, urllib.error.URLError):
            raise HttpAnswer(500, "Internal Server Error", "text/plain")
    node_list = (["%s:%d" % (host, port)] if co_host_dim else []) + list(dim_nodes)
    if len(node_list) <= num_islands:
        raise json_answer(500, {"detail": "#nodes (%d) should be larger than the number of islands (%d)"
                                          % (len(node_list), num_islands)})
    islands, nms = node_list[:num_islands], node_list[num_islands:]
    if not isinstance(pgt, list):
        raise HttpAnswer(500, "Internal Server Error", "text/plain")
    out = []
    for drop in pgt:
        if isinstance(drop, dict) and "oid" in drop:
            drop = dict(drop)
            for key, pool in (("node", nms), ("island", islands)):
                v = drop.get(key)
                if isinstance(v, str) and v.startswith("#"):
                    try:
                        drop[key] = pool[int(v[1:]) % len(pool)]
                    except ValueError:
                        pass
        out.append(drop)
    return out


def tm_submission_method(state, query):
    host = query.get("dlg_mgr_host")
    port = query.get("dlg_mgr_port")
    if not host:
        return {"methods": ["BROWSER"]}
    try:
        with urllib.request.urlopen("http://%s:%s/api/submission_method" % (host, port or 443),
                                    timeout=5) as r:
            return {"methods": json.loads(r.read().decode()).get("methods", [])}
    except (OSError, ValueError, urllib.error.URLError):
        return {"methods": []}


# ---------------------------------------------------------------------------------------------
# Data Island Manager
# ---------------------------------------------------------------------------------------------

def node_map(state, session):
    pinned = session.get("pinned") or {}
    return {n: pinned.get(n, session["node_states"][n]) for n in state.nodes}


def finish(state, session):
    errored_nodes = {d.get("node") for oid, d in session["graph"].items() if oid in session["errors"]}
    for n in state.nodes:
        session["node_states"][n] = FAILED if n in errored_nodes else FINISHED


def drop_status(session, oid, drop):
    is_app = drop.get("categoryType") in ("Application", "Socket") or drop.get("type") in ("app", "socket")
    st = session["node_states"].get(drop.get("node"), RUNNING)
    if oid in session["errors"]:
        status, exec_status = 3, 3
    elif st == CANCELLED:
        status, exec_status = 6, 4
    elif st in (FINISHED, FAILED):
        status, exec_status = 2, 2
    else:
        status, exec_status = 1, 1
    return {"status": status, "execStatus": exec_status} if is_app else {"status": status}


def session_state_all(session):
    return set(session["node_states"].values())


def set_all(state, session, st):
    for n in state.nodes:
        session["node_states"][n] = st


def dim_route(state, method, parts, query, headers, body):
    """parts: path split on '/', without the leading empty element, percent-decoded."""
    if parts == [""] and method == "GET":
        raise HttpAnswer(200, "<html><body><h1>DALiuGE DIM stand-in</h1></body></html>", "text/html")
    if parts[:1] != ["api"]:
        raise HttpAnswer(404, "<html><body>Not found: '/%s'</body></html>" % "/".join(parts), "text/html")
    rest = parts[1:]
    with state.lock:
        if rest == [] and method == "GET":
            return {"hosts": state.nodes, "sessionIds": list(state.sessions)}
        if rest == ["nodes"] and method == "GET":
            return state.nodes
        if rest == ["submission_method"] and method == "GET":
            return {"methods": ["BROWSER", "SERVER"]}
        if rest == ["sessions"] and method == "GET":
            return [{"sessionId": sid, "status": node_map(state, s), "size": len(s["graph"])}
                    for sid, s in state.sessions.items()]
        if rest == ["sessions"] and method == "POST":
            try:
                sid = json.loads(body.decode() or "null")["sessionId"]
            except (ValueError, KeyError, TypeError):
                raise HttpAnswer(500, BOTTLE_500 % "/api/sessions", "text/html")
            if not isinstance(sid, str) or not sid or "/" in sid:
                raise json_answer(400, {"type": "InvalidSessionState", "args": ["invalid session id"]})
            if sid in state.sessions:
                raise state.sub_manager("SessionAlreadyExistsException")
            state.sessions[sid] = {"graph": {}, "order": [], "reprodata": None, "errors": set(),
                                   "node_states": {n: PRISTINE for n in state.nodes},
                                   "polls": 0, "pinned": None, "roots": None}
            return {"sessionId": sid}
        if len(rest) < 2 or rest[0] != "sessions":
            raise HttpAnswer(404, "<html><body>Not found</body></html>", "text/html")
        sid, tail = rest[1], rest[2:]
        session = state.sessions.get(sid)
        if tail == ["status"] and method == "GET":
            if session is None:
                return {n: {"Status": "Success"} for n in state.nodes}
            states = session_state_all(session)
            if states == {RUNNING} and not session["pinned"]:
                session["polls"] += 1
                if 0 < state.finish_after_polls <= session["polls"]:
                    finish(state, session)
            return node_map(state, session)
        if session is None:
            raise unknown_session(state)
        if tail == [] and method == "GET":
            return {"status": node_map(state, session), "graph": session["graph"],
                    "dir": "/tmp/dlg/workspace/" + sid}
        if tail == [] and method == "DELETE":
            del state.sessions[sid]
            return {"Status": "Success"}
        if tail == ["graph"] and method == "GET":
            return session["graph"]
        if tail == ["graph", "status"] and method == "GET":
            if not session_state_all(session) <= {RUNNING, FINISHED, CANCELLED, FAILED}:
                raise state.sub_manager("InvalidSessionState")
            return {oid: drop_status(session, oid, d) for oid, d in session["graph"].items()}
        if tail == ["graph", "append"] and method == "POST":
            return dim_append(state, session, headers, body)
        if tail == ["deploy"] and method == "POST":
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            completed = [u for v in form.get("completed", []) for u in v.split(",") if u]
            if session_state_all(session) != {BUILDING}:
                raise state.sub_manager("InvalidSessionState")
            missing = sorted(set(completed) - set(session["graph"]))
            if missing:
                raise json_answer(555, {"type": "DaliugeException",
                                        "args": ["UIDs for completed drops not found: %r" % missing]})
            session["roots"] = completed
            set_all(state, session, RUNNING)
            session["polls"] = 0
            return {"Status": "Success"}
        if tail == ["cancel"] and method == "POST":
            # DALiuGE refuses to cancel a session that has already ended.
            if session_state_all(session) & {FINISHED, FAILED}:
                raise state.sub_manager("InvalidSessionState")
            set_all(state, session, CANCELLED)
            return {"Status": "Success"}
    raise HttpAnswer(405, "<html><body>Method not allowed</body></html>", "text/html")


def dim_append(state, session, headers, body):
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "text/plain"):
        raise json_answer(415, {"Status": "Success"})  # DALiuGE's daliuge_aware quirk
    if "gzip" in headers.get("content-encoding", "").lower():
        body = gzip.decompress(body)
    try:
        graph = json.loads(body.decode())
    except ValueError:
        raise json_answer(400, {"type": "InvalidGraphException", "args": ["graph is not valid JSON"]})
    if not isinstance(graph, list):
        raise json_answer(400, {"type": "InvalidGraphException", "args": ["graph is not a list"]})
    reprodata = None
    if graph and isinstance(graph[-1], dict) and "rmode" in graph[-1]:
        reprodata = graph.pop()
    elif graph and graph[-1] == {}:
        graph.pop()
    for drop in graph:
        if not isinstance(drop, dict) or "node" not in drop:
            oid = drop.get("oid") if isinstance(drop, dict) else drop
            raise json_answer(400, {"type": "InvalidGraphException",
                                    "args": ["Drop %s doesn't specify a node attribute" % oid]})
        if drop["node"] not in state.nodes:
            raise json_answer(400, {"type": "InvalidGraphException",
                                    "args": ["Drop %s's node %s does not belong to this DM"
                                             % (drop.get("oid"), drop["node"])]})
    if not session_state_all(session) <= {PRISTINE, BUILDING}:
        raise state.sub_manager("InvalidSessionState")
    for drop in graph:
        if drop.get("oid") in session["graph"]:
            raise state.sub_manager("InvalidGraphException")
    for drop in graph:
        session["graph"][drop.get("oid")] = drop
        if str(drop.get("beampipe_test_outcome", "")).lower() == "error":
            session["errors"].add(drop.get("oid"))
    if reprodata is not None:
        session["reprodata"] = reprodata
    set_all(state, session, BUILDING)
    return {"Status": "Success"}


def control_route(state, method, parts, query, body):
    payload = {}
    if body:
        try:
            payload = json.loads(body.decode())
        except ValueError:
            raise json_answer(400, {"error": "control bodies are JSON"})
    with state.lock:
        if parts == ["requests"] and method == "GET":
            server = query.get("server")
            return [r for r in state.requests if not server or r["server"] == server]
        if parts == ["requests"] and method == "DELETE":
            state.requests.clear()
            return {"ok": True}
        if parts == ["faults"] and method == "POST":
            fault = {"server": payload.get("server"), "method": payload.get("method"),
                     "path": payload.get("path", ""), "count": int(payload.get("count", 1)),
                     "action": payload.get("action", "http500"),
                     "delay_ms": int(payload.get("delay_ms", 0)),
                     "inner_type": payload.get("inner_type", "InvalidSessionState")}
            if fault["action"] not in ("delay", "http500", "http503", "http555", "close"):
                raise json_answer(400, {"error": "unknown action"})
            re.compile(fault["path"])
            state.faults.append(fault)
            return {"ok": True, "faults": len(state.faults)}
        if parts == ["faults"] and method == "DELETE":
            state.faults.clear()
            return {"ok": True}
        if parts == ["config"] and method == "POST":
            if "finish_after_polls" in payload:
                state.finish_after_polls = int(payload["finish_after_polls"])
            return {"finish_after_polls": state.finish_after_polls}
        if parts == ["state"] and method == "GET":
            return {"nodes": state.nodes, "finish_after_polls": state.finish_after_polls,
                    "sessions": {sid: {"status": node_map(state, s), "drops": len(s["graph"]),
                                       "polls": s["polls"], "errors": sorted(s["errors"]),
                                       "roots": s["roots"]}
                                 for sid, s in state.sessions.items()}}
        if parts == ["reset"] and method == "POST":
            state.reset()
            return {"ok": True}
        if len(parts) == 3 and parts[0] == "sessions" and method == "POST":
            session = state.sessions.get(parts[1])
            if session is None:
                raise json_answer(404, {"error": "no such session"})
            if parts[2] == "error_drops":
                uids = payload.get("uids") or []
                if not uids:
                    ingest = [o for o, d in session["graph"].items()
                              if "beampipe-ingest" in str(d.get("name", ""))]
                    uids = ingest or list(session["graph"])[:1]
                unknown = [u for u in uids if u not in session["graph"]]
                if unknown:
                    raise json_answer(400, {"error": "unknown uids", "uids": unknown})
                session["errors"].update(uids)
                return {"errors": sorted(session["errors"])}
            if parts[2] == "finish":
                finish(state, session)
                return {"status": node_map(state, session)}
            if parts[2] == "node_states":
                session["pinned"] = {n: int(v) for n, v in payload.items()}
                return {"status": node_map(state, session)}
    raise json_answer(404, {"error": "unknown control route"})


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------

def make_handler(state, server_name):
    class Handler(BaseHTTPRequestHandler):
        server_version = "daliuge-standin/1.0"

        def log_message(self, fmt, *args):
            pass

        def answer(self, status, body, content_type):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def handle_any(self):
            url = urllib.parse.urlsplit(self.path)
            path = url.path
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            control = server_name == "dim" and path.startswith("/__standin/")
            fault = None
            if not control:
                with state.lock:
                    for f in state.faults:
                        if f["count"] == 0:
                            continue
                        if f["server"] and f["server"] != server_name:
                            continue
                        if f["method"] and f["method"].upper() != self.command:
                            continue
                        if not re.search(f["path"], path):
                            continue
                        if f["count"] > 0:
                            f["count"] -= 1
                        fault = f
                        break
                    state.requests.append({
                        "server": server_name, "method": self.command, "path": path,
                        "query": url.query, "headers": headers,
                        "body": body.decode("utf-8", "replace") if not headers.get(
                            "content-encoding") else "<%d encoded bytes>" % len(body),
                        "fault": fault["action"] if fault else None})
            try:
                if fault:
                    if fault["action"] == "close":
                        self.close_connection = True
                        return
                    if fault["action"] == "http500":
                        return self.answer(500, BOTTLE_500 % path, "text/html; charset=UTF-8")
                    if fault["action"] == "http503":
                        return self.answer(503, "Service Unavailable", "text/plain")
                    if fault["action"] == "http555":
                        # What a refused deploy looks like: a SubManagerException, nothing done.
                        a = state.sub_manager(payload_type(fault))
                        return self.answer(a.status, a.body, a.content_type)
                    time.sleep(fault["delay_ms"] / 1000.0)
                try:
                    result = self.route(path, query, headers, body, control)
                    self.answer(200, json.dumps(result), "application/json")
                except HttpAnswer as a:
                    self.answer(a.status, a.body, a.content_type)
                except (BrokenPipeError, ConnectionResetError):
                    raise
                except Exception as e:  # an unhandled error becomes the framework's 500
                    sys.stderr.write("stand-in error on %s %s: %r\n" % (self.command, path, e))
                    self.answer(500, BOTTLE_500 % path, "text/html; charset=UTF-8")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def route(self, path, query, headers, body, control):
            if control:
                parts = [urllib.parse.unquote(p) for p in path[len("/__standin/"):].split("/")]
                return control_route(state, self.command, parts, query, body)
            if server_name == "dim":
                parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
                return dim_route(state, self.command, parts, query, headers, body)
            return self.tm_route(path, query, headers, body)

        def tm_route(self, path, query, headers, body):
            if path == "/" and self.command == "HEAD":
                return {}
            if path == "/" and self.command == "GET":
                raise HttpAnswer(200, "<html><body><h1>DALiuGE Translator stand-in</h1></body></html>",
                                 "text/html; charset=utf-8")
            if path == "/api/submission_method" and self.command == "GET":
                return tm_submission_method(state, query)
            if path in ("/unroll_and_partition", "/map") and self.command == "POST":
                ctype = headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype != "application/x-www-form-urlencoded":
                    raise fastapi_422("lg_content" if path != "/map" else "pgt_content",
                                      "field required", "value_error.missing")
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(
                    body.decode("utf-8", "replace"), keep_blank_values=True).items()}
                if path == "/map":
                    return tm_map(state, form)
                return tm_unroll_and_partition(state, form)
            raise json_answer(404, {"detail": "Not Found"})

        do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = handle_any

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tm-port", type=int, default=0)
    ap.add_argument("--dim-port", type=int, default=0)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--finish-after-polls", type=int, default=3)
    ap.add_argument("--watch-stdin", action="store_true")
    args = ap.parse_args()
    nodes = ["127.0.0.%d:8000:5555:6666" % (i + 1) for i in range(max(0, args.nodes))]
    state = State(nodes, args.finish_after_polls)
    dim = Server(("127.0.0.1", args.dim_port), make_handler(state, "dim"))
    tm = Server(("127.0.0.1", args.tm_port), make_handler(state, "tm"))
    state.dim_port = dim.server_address[1]
    for srv in (dim, tm):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(json.dumps({"tm_port": tm.server_address[1], "dim_port": dim.server_address[1],
                      "nodes": nodes}), flush=True)
    try:
        if args.watch_stdin:
            while sys.stdin.buffer.read(4096):
                pass
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    # Nothing to flush; shutdown() would wait out serve_forever's poll interval per server.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
