"""Issue #16: every route against hostile input, driven by the served OpenAPI document so a new
route is covered the day it is registered.

For each operation: hostile JSON bodies (NUL in every documented string field, invalid UTF-8,
deep nesting, a huge array, a huge string, control characters in keys), hostile config texts
and binaries for the non-JSON bodies, hostile path parameters, query values and headers. Every
answer must be a 4xx (never a 5xx, never a hang), nothing may be appended to the event store,
and after each request the server must still be ready and take one normal write.
"""
import json
import re
import socket
import time
import uuid

from harness import Checks, Server, V2, upload_config, wallaby_config

c = Checks()
srv = Server()
srv.wait_ready()
upload_config(srv, wallaby_config())
last_position = 0


def head():
    st, feed, _, _ = srv.request("GET", f"{V2}/events?after={last_position}&limit=1000")
    return feed["events"]


def canary():
    """One normal write; moves the baseline past its own events."""
    global last_position
    st, body, hdrs, _ = srv.request("POST", V2 + "/sources", {
        "project_module": "wallaby_hires", "source_identifier": "canary-" + uuid.uuid4().hex[:12],
        "enabled": False})
    ok = st in (200, 201)
    if ok:
        last_position = max(last_position, int(hdrs.get("X-Beampipe-Position", "0")))
        evs = head()
        if evs:
            last_position = evs[-1]["position"]
    return ok


def send_raw(method, target, body=b"", headers=None):
    """Bytes as they are; returns the status (None: no answer within 30 s)."""
    hdrs = {"Host": "127.0.0.1", "Authorization": "Bearer " + srv.token, "Connection": "close",
            "Content-Length": str(len(body))}
    hdrs.update(headers or {})
    head_bytes = f"{method} ".encode() + target + b" HTTP/1.1\r\n"
    for k, v in hdrs.items():
        head_bytes += k.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) + b"\r\n"
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    try:
        s.sendall(head_bytes + b"\r\n" + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        return None
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return int(m.group(1)) if m else "no status"


results = []


def attempt(what, method, target, body=b"", headers=None):
    st = send_raw(method, target, body, headers)
    stored = head()
    ready = srv.request("GET", V2 + "/ready", auth=False)[0]
    healthy = canary()
    results.append((what, st))
    ok = isinstance(st, int) and 400 <= st < 500
    c.true(f"{what}: a 4xx answer (got {st})", ok)
    c.eq(f"{what}: nothing stored", [e["type"] for e in stored], [])
    c.eq(f"{what}: still ready", ready, 200)
    c.true(f"{what}: a normal write still succeeds", healthy)


def concrete(template, value=None):
    """The template with every {param} filled: `value` (raw, already encoded) or a UUID."""
    def fill(m):
        return value if value is not None else str(uuid.uuid4())
    return re.sub(r"\{[^}]+\}", fill, template)


def string_fields(schema, doc, depth=0):
    """Top-level property names of a JSON body schema (following $ref and allOf)."""
    if depth > 5 or not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return string_fields(doc["components"]["schemas"].get(name, {}), doc, depth + 1)
    names = list((schema.get("properties") or {}).keys())
    for part in schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", []):
        names += string_fields(part, doc, depth + 1)
    return names


canary()
st, doc, _, _ = srv.request("GET", V2 + "/openapi.json")
deep = "[" * 2000 + "]" * 2000
huge_array = "[" + ",".join(["0"] * 150000) + "]"
huge_string = '"' + "a" * 900000 + '"'
operations = 0
for template, item in doc["paths"].items():
    for method, op in item.items():
        if method not in ("post", "put", "patch", "delete"):
            continue
        if template.endswith(("/login", "/refresh", "/logout")):
            continue  # sign-in routes: covered below with their own bodies
        operations += 1
        target = concrete(template).encode()
        content = (op.get("requestBody") or {}).get("content", {})
        where = f"{method.upper()} {template}"
        if "application/json" in content and "application/yaml" not in content:
            fields = string_fields(content["application/json"].get("schema", {}), doc) or ["name"]
            for field in fields:
                attempt(f"{where} NUL in {field}", method.upper(), target,
                        json.dumps({field: "x\u0000y"}).encode(), {"Content-Type": "application/json"})
            hostile = {
                "invalid UTF-8": b'{"' + fields[0].encode() + b'":"\xff\xfe"}',
                "deep nesting": ('{"' + fields[0] + '":' + deep + "}").encode(),
                "a huge array": ('{"' + fields[0] + '":' + huge_array + "}").encode(),
                "a huge string": ('{"' + fields[0] + '":' + huge_string + "}").encode(),
                "a control character in a key": b'{"na\\u0007me":"x"}',
                "not an object": b'["x"]',
            }
            for what, body in hostile.items():
                attempt(f"{where} {what}", method.upper(), target, body, {"Content-Type": "application/json"})
        elif "application/yaml" in content:
            for what, body in {"a NUL in YAML": b'metadata:\n  id: "x\\0y"\n',
                               "invalid UTF-8 in YAML": b"metadata:\n  id: \xff\xfe\n",
                               "an alias bomb": b"&a [*a, *a, *a, *a]",
                               "deep YAML": ("a: " + "[" * 500 + "]" * 500).encode()}.items():
                attempt(f"{where} {what}", method.upper(), target, body, {"Content-Type": "application/yaml"})
        elif "application/wasm" in content:
            attempt(f"{where} not a module", method.upper(), target, b"\x00asm\xff\xff\xff\xff",
                    {"Content-Type": "application/wasm"})
        # Hostile path parameters (percent-encoded NUL, invalid UTF-8, control characters).
        if "{" in template:
            for what, value in {"NUL": "%00", "invalid UTF-8": "%FF%FE", "a newline": "a%0Ab"}.items():
                attempt(f"{where} with {what} in the path", method.upper(), concrete(template, value).encode(),
                        b"{}", {"Content-Type": "application/json"})
c.true(f"write operations covered ({operations})", operations >= 25)

# Sign-in routes and headers.
for path in ("/login", "/refresh", "/logout"):
    attempt(f"POST {path} NUL", "POST", (V2 + path).encode(), b'{"username":"a\\u0000","password":"b",'
            b'"refresh_token":"\\u0000","access_token":"\\u0000"}', {"Content-Type": "application/json"})
    attempt(f"POST {path} invalid UTF-8", "POST", (V2 + path).encode(), b'{"username":"\xff"}',
            {"Content-Type": "application/json"})
attempt("a form login with invalid UTF-8", "POST", (V2 + "/login").encode(), b"username=%FF&password=x",
        {"Content-Type": "application/x-www-form-urlencoded"})
attempt("a control character in X-Correlation-Id", "POST", (V2 + "/sources").encode(),
        b'{"project_module":"wallaby_hires","source_identifier":"h1"}',
        {"Content-Type": "application/json", "X-Correlation-Id": b"abc\x01def"})
attempt("invalid UTF-8 in X-Correlation-Id", "POST", (V2 + "/sources").encode(),
        b'{"project_module":"wallaby_hires","source_identifier":"h2"}',
        {"Content-Type": "application/json", "X-Correlation-Id": b"\xff\xfe"})
attempt("a control character in Idempotency-Key", "POST", (V2 + "/executions").encode(),
        b'{"project_module":"wallaby_hires","archive_name":"casda","sources":[]}',
        {"Content-Type": "application/json", "Idempotency-Key": b"k\x01"})
attempt("invalid UTF-8 in a query value", "POST", (V2 + "/sources/discover?x=%FF").encode(),
        b'{"project_module":"\\u0000"}', {"Content-Type": "application/json"})

# Reads with hostile query values: a 4xx or a normal answer, never a 5xx.
for template, item in doc["paths"].items():
    if "get" not in item or template.endswith(("/docs", "redoc.standalone.js", ".LICENSE.txt")):
        continue
    params = [p["name"] for p in item["get"].get("parameters", []) if p.get("in") == "query"]
    for p in params:
        st = send_raw("GET", (concrete(template) + f"?{p}=%00%FF").encode())
        c.true(f"GET {template}?{p}=<hostile>: answered without a 5xx ({st})", isinstance(st, int) and st < 500)
c.true("the server is still ready at the end", srv.request("GET", V2 + "/ready")[0] == 200)
print(f"{len(results)} hostile requests over {operations} write operations")
srv.stop()
c.finish()
