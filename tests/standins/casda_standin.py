#!/usr/bin/env python3
"""CASDA stand-in: OPAL Basic login, DataLink and SODA async (UWS) staging (protocols §8.3).

Python 3 standard library only. Listens on 127.0.0.1 on an ephemeral port (or --port N) and
prints one JSON line {"port": N} on stdout once the socket listens. With --exit-on-stdin-eof
it exits when its stdin closes, so a crashed test process cannot leave it running.

Service endpoints (what real CASDA serves, modelled on protocols §2 and §8.3):
  GET  /casda_vo_proxy/vo/tap/availability
       Basic auth required: good → 200 VOSI availability XML (plus Set-Cookie JSESSIONID);
       missing/bad → 401 with WWW-Authenticate: Basic realm="ATNF OPAL Login".
  GET  /casda_vo_proxy/vo/datalink/links?ID=<id>
       IDs must match ^(cube|visibility|evaluation|catalogue|spectrum|moment_map|cubelet)-\\d+$
       or ^scan-\\d+-\\d+$ (else a UsageFault row). Bad Basic credentials → 401.
       Authenticated → a DataLink 1.1 document: web download row, pawsey_async_service row
       and async_service row (each with a fresh opaque token), and both service descriptors.
       Anonymous (no Authorization header) → only the "Authenticated Data Link" row.
  POST /casda_data_access/data/async?ID=<tok>&ID=<tok>      (async_service accessURL)
  POST /casda_data_access/pawsey/async?ID=<tok>&ID=<tok>    (pawsey_async_service accessURL)
       → 303, Location …/casda_data_access/data/async/<jobid>; an unknown token, or a token
       issued for the other service → 400 "UsageFault: …". Body is ignored.
  POST /casda_data_access/data/async/<jobid>/phase   form phase=RUN (or PHASE=RUN) → 303 to
       the job; phase=ABORT aborts it.
  GET  /casda_data_access/data/async/<jobid>
       UWS 1.0-namespace job document (jobId as CDATA surrounded by whitespace, xsi:nil
       elements). PENDING until RUN; then each GET takes the next phase of the script (the
       last one sticks; a final phase freezes the job).
  GET  /casda_data_access/data/async/<jobid>/results
       <uws:results> with self-closing <uws:result id=… xlink:type="simple" xlink:href=…/>
       (empty until COMPLETED).
  GET  /download/web/<jobid>/<file>            plain result href: a small file
  GET  /pawsey-bucket/<jobid>/<file>?response-content-disposition=…&X-Amz-…&X-Amz-Signature=…
       pre-signed result href: the signature covers the exact raw query, so a client that
       percent-decodes or re-encodes the href gets 403.
       <file>.checksum → "crc32hex sha1hex sizehex" of <file>.
  Result ids: visibility-N (scan-N-M → visibility-N), evaluation-N, cube-N …, each with a
  "<id>.checksum" companion.

Control endpoints (JSON bodies and answers; not recorded):
  POST /__standin/credentials  {"username": u, "password": p}  (default casda-user / "s3cret pass")
  POST /__standin/faults       {"<id>": kind | null}  merged; kind is one of
       "permission"  DefaultFault: Sorry, but you do not have permission to access this data product
       "not_found"   NotFoundFault: <id> cannot be found
       "usage"       UsageFault: Invalid id <id>
       "oversize"    the web download row becomes "DefaultFault: This option is unavailable due
                     to the file size exceeding 20 GB in size"; the async rows stay usable
       "transient"   TransientFault: the archive is temporarily unavailable
       "anonymous"   answer this ID as for an anonymous caller
  POST /__standin/script       {"phases": ["QUEUED", …, "COMPLETED"], "error_summary": "…"}
       applies to jobs created afterwards (default QUEUED, EXECUTING, COMPLETED)
  POST /__standin/config       any of
       "anonymous": bool        answer every DataLink request anonymously (session lost)
       "accept_cookie": bool    a login cookie authenticates DataLink without Basic (Rust's way)
       "results_in_job": bool   COMPLETED job documents carry <uws:results> (default false)
       "location": "absolute" | "relative"   style of the 303 Location (default absolute)
       "presigned": ["<id>", …] | "*"        products whose hrefs are pre-signed
       "filenames": {"<id>": "<file name>"}  merged; default visibility_N.ms.tar, evaluation_N.tar, <id>.fits
       "pawsey_first": bool     list the pawsey_async_service row before async_service (default true)
       "create_status": int     answer job creation with this status (e.g. 503) instead (0 = off)
  GET  /__standin/requests     {"requests": [{method, path, query, headers, authorization,
                                auth_user, cookie, body}]}  (Authorization value redacted)
  GET  /__standin/jobs         {"jobs": {jobid: {service, ids, started, phase, polls, results}}}
  POST /__standin/reset        back to the defaults, requests and jobs cleared
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr

ID_RE = re.compile(r"^(cube|visibility|evaluation|catalogue|spectrum|moment_map|cubelet)-\d+$|^scan-\d+-\d+$")
FINAL = {"COMPLETED", "ERROR", "ABORTED"}
SIGNING_KEY = b"standin-signing-key"
UWS_NS = 'xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" ' \
         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
FAULTS = {
    "permission": "DefaultFault: Sorry, but you do not have permission to access this data product",
    "not_found": "NotFoundFault: {id} cannot be found",
    "usage": "UsageFault: Invalid id {id}",
    "transient": "TransientFault: the archive is temporarily unavailable, try again later",
}
OVERSIZE = "DefaultFault: This option is unavailable due to the file size exceeding 20 GB in size"


def defaults():
    return {
        "username": "casda-user",
        "password": "s3cret pass",
        "faults": {},
        "phases": ["QUEUED", "EXECUTING", "COMPLETED"],
        "error_summary": "Staging failed: the tape library reported an error",
        "anonymous": False,
        "accept_cookie": False,
        "results_in_job": False,
        "location": "absolute",
        "presigned": [],
        "filenames": {},
        "pawsey_first": True,
        "create_status": 0,
    }


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.config = defaults()
        self.requests = []
        self.tokens = {}  # token → {"id", "service"}
        self.jobs = {}
        self.cookies = set()


STATE = State()


def product_of(ident):
    """The product a DataLink ID stages: scan-N-M is the visibility-N measurement set."""
    m = re.match(r"^scan-(\d+)-\d+$", ident)
    return f"visibility-{m.group(1)}" if m else ident


def filename_of(product):
    names = STATE.config["filenames"]
    if product in names:
        return names[product]
    kind, _, number = product.rpartition("-")
    if kind == "visibility":
        return f"visibility_{number}.ms.tar"
    if kind == "evaluation":
        return f"evaluation_{number}.tar"
    return f"{product}.fits"


def file_bytes(name):
    return (f"stand-in content of {name}\n" * 4).encode()


def checksum_text(name):
    data = file_bytes(name)
    return f"{zlib.crc32(data) & 0xFFFFFFFF:x} {hashlib.sha1(data).hexdigest()} {len(data):x}\n"


def sign(path, query_without_signature):
    return hmac.new(SIGNING_KEY, (path + "?" + query_without_signature).encode(), hashlib.sha256).hexdigest()


def result_href(base, jobid, product, name):
    quoted = urllib.parse.quote(name)
    presigned = STATE.config["presigned"]
    if presigned == "*" or product in presigned:
        path = f"/pawsey-bucket/{jobid}/{quoted}"
        # Percent-encoded pieces (%3B %20 %22 %2F) are part of what is signed.
        query = (f"response-content-disposition=attachment%3B%20filename%3D%22{quoted}%22"
                 "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 "&X-Amz-Credential=STANDINKEY%2F20260701%2Fap-southeast-2%2Fs3%2Faws4_request"
                 "&X-Amz-Date=20260701T000000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host")
        return f"{base}{path}?{query}&X-Amz-Signature={sign(path, query)}"
    return f"{base}/download/web/{jobid}/{quoted}"


def datalink_document(base, ident, fault, anonymous, content_length=1056024576):
    fields = [
        '<FIELD datatype="char" name="ID" ucd="meta.id;meta.main" arraysize="*"/>',
        '<FIELD datatype="char" name="access_url" ucd="meta.ref.url" arraysize="*"/>',
        '<FIELD datatype="char" name="service_def" ucd="meta.ref" arraysize="*"/>',
        '<FIELD datatype="char" name="error_message" ucd="meta.code.error" arraysize="*"/>',
        '<FIELD datatype="char" name="description" ucd="meta.note" arraysize="*"/>',
        '<FIELD datatype="char" name="semantics" ucd="meta.code" arraysize="*"/>',
        '<FIELD datatype="char" name="content_type" ucd="meta.code.mime" arraysize="*"/>',
        '<FIELD unit="byte" datatype="long" name="content_length" ucd="phys.size;meta.file"/>',
        '<FIELD ID="authenticatedIdToken" datatype="char" name="authenticated_id_token" ucd="meta.id" arraysize="*"/>',
    ]
    rows = []
    descriptors = []

    def row(access_url="", service_def="", error="", description="", semantics="#this",
            content_type="", length="", token=""):
        cells = [ident, access_url, service_def, error, description, semantics, content_type, str(length), token]
        rows.append("<TR>" + "".join(f"<TD>{escape(c)}</TD>" if c else "<TD/>" for c in cells) + "</TR>")

    def token_for(service):
        # Opaque, per request; base64 so it carries '+', '/' and '=' that must be URL-encoded.
        token = base64.b64encode(os.urandom(16)).decode()
        STATE.tokens[token] = {"id": ident, "service": service}
        return token

    if fault in ("permission", "not_found", "usage", "transient"):
        row(error=FAULTS[fault].format(id=ident), semantics="", content_type="")
    elif anonymous:
        row(access_url=f"{base}/casda_vo_proxy/vo/datalink/links?ID={urllib.parse.quote(ident)}",
            description="Authenticated Data Link",
            content_type="application/x-votable+xml;content=datalink")
    else:
        mime = "application/x-tar" if ident.startswith(("visibility", "scan", "evaluation")) else "application/fits"
        if fault == "oversize":
            row(error=OVERSIZE, description="Download data product via web", content_type=mime,
                length=content_length)
        else:
            row(access_url=f"{base}/casda_data_access/data/sync?id={ident}&kind=web",
                description="Download data product via web", content_type=mime, length=content_length)
        web = lambda: row(service_def="async_service", description="Scripted file access via Web",
                          content_type=mime, length=content_length, token=token_for("async_service"))
        pawsey = lambda: row(service_def="pawsey_async_service",
                             description="Scripted file access via Pawsey Centre. Note: Only users from "
                                         "within PSC network can access the data through this link.",
                             content_type=mime, length=content_length, token=token_for("pawsey_async_service"))
        if STATE.config["pawsey_first"]:
            pawsey()
            web()
        else:
            web()
            pawsey()
        for service, path in (("async_service", "/casda_data_access/data/async"),
                              ("pawsey_async_service", "/casda_data_access/pawsey/async")):
            descriptors.append(
                f'<RESOURCE ID="{service}" utype="adhoc:service" type="meta">'
                '<PARAM value="ivo://ivoa.net/std/SODA#async-1.0" datatype="char" name="standardID" arraysize="*"/>'
                f'<PARAM value={quoteattr(base + path)} datatype="char" name="accessURL" arraysize="*"/>'
                '<GROUP name="inputParams">'
                '<PARAM value="" datatype="char" ref="authenticatedIdToken" name="ID" arraysize="*"/>'
                '</GROUP></RESOURCE>')
        # A descriptor with optional user inputs: the client must not send those.
        descriptors.append(
            '<RESOURCE ID="cutout_service" utype="adhoc:service" type="meta">'
            '<PARAM value="ivo://ivoa.net/std/SODA#async-1.0" datatype="char" name="standardID" arraysize="*"/>'
            f'<PARAM value={quoteattr(base + "/casda_data_access/data/async")} datatype="char" '
            'name="accessURL" arraysize="*"/>'
            '<GROUP name="inputParams">'
            '<PARAM value="" datatype="char" ref="authenticatedIdToken" name="ID" arraysize="*"/>'
            '<PARAM datatype="char" xtype="circle" name="POS" arraysize="*"/>'
            '<PARAM unit="m" datatype="double" xtype="interval" name="BAND" arraysize="2"/>'
            '</GROUP></RESOURCE>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<VOTABLE xmlns="http://www.ivoa.net/xml/VOTable/v1.3" version="1.3">\n'
            ' <RESOURCE name="CASDA Datalink Result" type="results">\n  <TABLE>\n   '
            + "\n   ".join(fields) + "\n   <DATA><TABLEDATA>\n    " + "\n    ".join(rows)
            + "\n   </TABLEDATA></DATA>\n  </TABLE>\n </RESOURCE>\n " + "\n ".join(descriptors)
            + "\n</VOTABLE>\n")


def job_document(job):
    def nil(name):
        return f"  <uws:{name} xsi:nil=\"true\"/>\n"
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<uws:job {UWS_NS}>\n",
           f"  <uws:jobId>\n    <![CDATA[{job['id']}]]>\n  </uws:jobId>\n", nil("ownerId"),
           f"  <uws:phase>{job['phase']}</uws:phase>\n", nil("quote"),
           "  <uws:startTime>2026-07-01T00:00:00.000Z</uws:startTime>\n" if job["started"] else nil("startTime"),
           "  <uws:endTime>2026-07-01T00:05:00.000Z</uws:endTime>\n" if job["phase"] in FINAL else nil("endTime"),
           "  <uws:executionDuration>0</uws:executionDuration>\n",
           "  <uws:destruction>2026-07-04T00:00:00.000Z</uws:destruction>\n", "  <uws:parameters>\n"]
    for token in job["tokens"]:
        out.append(f'    <uws:parameter id="id">{escape(token)}</uws:parameter>\n')
    out.append("  </uws:parameters>\n")
    if job["phase"] == "COMPLETED" and job["results_in_job"]:
        out.append(results_block(job, "  "))
    if job["phase"] == "ERROR":
        out.append('  <uws:errorSummary type="fatal" hasDetail="false">\n'
                   f"    <uws:message>{escape(job['error_summary'])}</uws:message>\n  </uws:errorSummary>\n")
    else:
        out.append(nil("errorSummary"))
    out.append("</uws:job>\n")
    return "".join(out)


def results_block(job, indent=""):
    lines = [f"{indent}<uws:results>\n"] if indent else []
    if job["phase"] == "COMPLETED":
        for r in job["results"]:
            lines.append(f'{indent}  <uws:result id={quoteattr(r["id"])} xlink:type="simple" '
                         f'xlink:href={quoteattr(r["href"])}/>\n')
    if indent:
        lines.append(f"{indent}</uws:results>\n")
    return "".join(lines)


class Handler(BaseHTTPRequestHandler):
    server_version = "casda-standin/1"

    def log_message(self, fmt, *args):  # quiet: tests read the request log instead
        pass

    # ------------------------------------------------------------------ plumbing
    def send(self, status, body=b"", content_type="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj, status=200):
        self.send(status, json.dumps(obj), "application/json")

    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def basic_user(self):
        """(sent, user, ok): whether Basic was sent, its user, whether it matches."""
        auth = self.headers.get("Authorization")
        if not auth:
            return False, None, False
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic":
            return True, None, False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return True, None, False
        ok = user == STATE.config["username"] and password == STATE.config["password"]
        return True, user, ok

    def record(self, body):
        split = urllib.parse.urlsplit(self.path)
        headers = {k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in self.headers.items()}
        sent, user, _ = self.basic_user()
        STATE.requests.append({"method": self.command, "path": split.path, "query": split.query,
                               "headers": headers, "authorization": sent, "auth_user": user,
                               "cookie": self.headers.get("Cookie", ""), "body": body.decode("utf-8", "replace")})

    def do_GET(self):
        self.dispatch(b"")

    def do_POST(self):
        self.dispatch(self.read_body())

    def do_DELETE(self):
        self.dispatch(self.read_body())

    def dispatch(self, body):
        split = urllib.parse.urlsplit(self.path)
        with STATE.lock:
            if split.path.startswith("/__standin/"):
                return self.control(split.path[len("/__standin/"):], body)
            self.record(body)
            return self.service(split.path, split.query, body)

    # ------------------------------------------------------------------ control
    def control(self, what, body):
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return self.send_json({"error": "body is not JSON"}, 400)
        cfg = STATE.config
        if what == "reset" and self.command == "POST":
            STATE.reset()
        elif what == "credentials" and self.command == "POST":
            cfg["username"], cfg["password"] = data["username"], data["password"]
        elif what == "faults" and self.command == "POST":
            for ident, kind in data.items():
                if kind is None:
                    cfg["faults"].pop(ident, None)
                elif kind in FAULTS or kind in ("oversize", "anonymous"):
                    cfg["faults"][ident] = kind
                else:
                    return self.send_json({"error": f"unknown fault {kind}"}, 400)
        elif what == "script" and self.command == "POST":
            if "phases" in data:
                if not data["phases"]:
                    return self.send_json({"error": "empty phase script"}, 400)
                cfg["phases"] = list(data["phases"])
            if "error_summary" in data:
                cfg["error_summary"] = data["error_summary"]
        elif what == "config" and self.command == "POST":
            for key, value in data.items():
                if key not in cfg or key in ("faults", "phases", "username", "password"):
                    return self.send_json({"error": f"unknown knob {key}"}, 400)
                if key == "filenames":
                    cfg["filenames"].update(value)
                else:
                    cfg[key] = value
        elif what == "requests" and self.command == "GET":
            return self.send_json({"requests": STATE.requests})
        elif what == "jobs" and self.command == "GET":
            return self.send_json({"jobs": {k: {x: v[x] for x in ("service", "ids", "started", "phase", "polls",
                                                                   "results")}
                                            for k, v in STATE.jobs.items()}})
        else:
            return self.send_json({"error": f"no control endpoint {self.command} {what}"}, 404)
        return self.send_json({"ok": True})

    # ------------------------------------------------------------------ services
    def service(self, path, query, body):
        if self.command == "GET" and path == "/casda_vo_proxy/vo/tap/availability":
            return self.availability()
        if self.command == "GET" and path == "/casda_vo_proxy/vo/datalink/links":
            return self.datalink(query)
        if self.command == "POST" and path in ("/casda_data_access/data/async", "/casda_data_access/pawsey/async"):
            return self.create_job(path, query)
        m = re.match(r"^/casda_data_access/data/async/([0-9a-f-]+)(/phase|/results)?$", path)
        if m:
            job = STATE.jobs.get(m.group(1))
            if job is None:
                return self.send(404, f"UWS job {m.group(1)} not found")
            if m.group(2) == "/phase" and self.command == "POST":
                return self.run_job(job, body)
            if m.group(2) is None and self.command == "GET":
                return self.poll_job(job)
            if m.group(2) == "/results" and self.command == "GET":
                xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:results {UWS_NS}>\n{results_block(job)}</uws:results>\n'
                return self.send(200, xml, "text/xml")
            return self.send(405, "method not allowed")
        m = re.match(r"^/(download/web|pawsey-bucket)/([0-9a-f-]+)/([^/]+)$", path)
        if m and self.command == "GET":
            return self.download(m.group(1), m.group(2), m.group(3), path, query)
        return self.send(404, "not found")

    def availability(self):
        sent, _, ok = self.basic_user()
        if not ok:
            return self.send(401, "Unauthorized", headers=[("WWW-Authenticate", 'Basic realm="ATNF OPAL Login"')])
        cookie = uuid.uuid4().hex
        STATE.cookies.add(cookie)
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<availability xmlns="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
               "<available>true</available><note>CASDA stand-in is accepting queries</note></availability>\n")
        return self.send(200, xml, "text/xml", headers=[("Set-Cookie", f"JSESSIONID={cookie}; Path=/; HttpOnly")])

    def datalink(self, query):
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        ident = (params.get("ID") or [""])[0]
        sent, _, ok = self.basic_user()
        if sent and not ok:
            return self.send(401, "Unauthorized", headers=[("WWW-Authenticate", 'Basic realm="ATNF OPAL Login"')])
        cookie_ok = STATE.config["accept_cookie"] and any(
            f"JSESSIONID={c}" in self.headers.get("Cookie", "") for c in STATE.cookies)
        authenticated = (ok or cookie_ok) and not STATE.config["anonymous"]
        fault = STATE.config["faults"].get(ident)
        if not ID_RE.match(ident):
            fault = "usage"
        if fault == "anonymous":
            authenticated = False
        xml = datalink_document(self.base(), ident, fault, anonymous=not authenticated)
        return self.send(200, xml, "application/x-votable+xml;content=datalink")

    def create_job(self, path, query):
        service = "pawsey_async_service" if "/pawsey/" in path else "async_service"
        if STATE.config["create_status"]:
            return self.send(STATE.config["create_status"], "Service temporarily unavailable")
        tokens = urllib.parse.parse_qs(query, keep_blank_values=True).get("ID", [])
        if not tokens:
            return self.send(400, "UsageFault: no ID parameter")
        ids = []
        for token in tokens:
            info = STATE.tokens.get(token)
            if info is None or info["service"] != service:
                return self.send(400, "UsageFault: unknown or expired ID token")
            ids.append(info["id"])
        jobid = str(uuid.uuid4())
        job_path = f"/casda_data_access/data/async/{jobid}"
        results = []
        for ident in ids:
            product = product_of(ident)
            name = filename_of(product)
            results.append({"id": product, "href": result_href(self.base(), jobid, product, name)})
            results.append({"id": product + ".checksum",
                            "href": result_href(self.base(), jobid, product, name + ".checksum")})
        STATE.jobs[jobid] = {"id": jobid, "service": service, "ids": ids, "tokens": tokens, "started": False,
                             "phase": "PENDING", "polls": 0, "script": list(STATE.config["phases"]),
                             "error_summary": STATE.config["error_summary"],
                             "results_in_job": STATE.config["results_in_job"], "results": results}
        location = job_path if STATE.config["location"] == "relative" else self.base() + job_path
        return self.send(303, "", headers=[("Location", location)])

    def run_job(self, job, body):
        form = {k.lower(): v for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        phase = (form.get("phase") or [""])[0].upper()
        if phase == "RUN":
            if job["phase"] == "PENDING":
                job["started"] = True
        elif phase == "ABORT":
            if job["phase"] not in FINAL:
                job["phase"] = "ABORTED"
        else:
            return self.send(400, f"UsageFault: bad PHASE value {phase!r}")
        location = self.base() + f"/casda_data_access/data/async/{job['id']}"
        return self.send(303, "", headers=[("Location", location)])

    def poll_job(self, job):
        if job["started"] and job["phase"] not in FINAL:
            script = job["script"]
            job["phase"] = script[min(job["polls"], len(script) - 1)]
            job["polls"] += 1
        return self.send(200, job_document(job), "text/xml")

    def download(self, style, jobid, quoted_name, path, query):
        job = STATE.jobs.get(jobid)
        name = urllib.parse.unquote(quoted_name)
        if job is None or job["phase"] != "COMPLETED":
            return self.send(404, "no such staged file")
        if style == "pawsey-bucket":
            unsigned, sep, signature = query.rpartition("&X-Amz-Signature=")
            if not sep or not hmac.compare_digest(signature, sign(path, unsigned)):
                return self.send(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", "application/xml")
        known = {filename_of(product_of(i)) for i in job["ids"]}
        if name.endswith(".checksum") and name[:-len(".checksum")] in known:
            return self.send(200, checksum_text(name[:-len(".checksum")]))
        if name in known:
            return self.send(200, file_bytes(name), "application/octet-stream")
        return self.send(404, "no such staged file")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.exit_on_stdin_eof:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
