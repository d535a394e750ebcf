#!/usr/bin/python3
"""Scripted HTTP server for the HTTP/TAP client edge cases a real DaCHS cannot be made to show
(503 then 200, redirect chains, slow and huge answers, busy services, stuck or held UWS jobs).

Binds 127.0.0.1 on a free port, prints "PORT <n>" on stdout, serves until killed.
GET /count?key=K answers how many requests carried ?key=K so far (retries are observable).
"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

counts = {}
jobs = {}
lock = threading.Lock()

VOTABLE = """<?xml version="1.0"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results">
<INFO name="QUERY_STATUS" value="OK"/><TABLE><FIELD name="n" datatype="int"/>
<DATA><TABLEDATA><TR><TD>%d</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""

JOB = """<?xml version="1.0"?>
<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink">
<uws:jobId>%s</uws:jobId><uws:phase>%s</uws:phase>
<uws:results>%s</uws:results>%s</uws:job>"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}

    def route(self, method):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        form = self.form() if method == "POST" else {}
        key = q.get("key")
        p = url.path
        if p == "/count":
            return self.reply(200, str(counts.get(key, 0)))
        with lock:
            if key:
                counts[key] = counts.get(key, 0) + 1
            seen = counts.get(key, 0)
        if p == "/flaky":  # 503 for the first n requests of this key, then 200
            if seen <= int(q.get("n", "1")):
                return self.reply(int(q.get("status", "503")), "try later")
            return self.reply(200, "ok after %d" % seen)
        if p == "/status":
            return self.reply(int(q["code"]), "status %s" % q["code"])
        if p.startswith("/redirect/"):
            n = int(p.rsplit("/", 1)[1])
            if n == 0:
                return self.reply(200, "arrived")
            return self.reply(302, headers=[("Location", "/redirect/%d" % (n - 1))])
        if p == "/post-see-other":
            return self.reply(303, headers=[("Location", "/redirect/0")])
        if p == "/slow":
            time.sleep(float(q.get("s", "3")))
            return self.reply(200, "late")
        if p == "/big":
            return self.reply(200, b"x" * int(q["bytes"]))
        # --- TAP flavours
        if p == "/tap/sync":  # sync that redirects to its result (DALI allows it)
            return self.reply(303, headers=[("Location", "/tap/result")])
        if p == "/tap/result":
            return self.reply(200, VOTABLE % 7, "application/x-votable+xml")
        if p == "/busy/sync":
            return self.reply(400, "TAP service too busy, retry later")
        if p == "/html/sync":
            return self.reply(200, "Service under maintenance", "text/html")
        if p == "/down/sync":
            return self.reply(502, "bad gateway")
        # --- UWS: /<flavour>/async; flavours: stuck (never finishes), held (HELD until RUN twice),
        #     failing (ERROR with a text/plain error), relative (result href relative)
        parts = p.strip("/").split("/")
        if len(parts) >= 2 and parts[1] == "async":
            flavour = parts[0]
            if len(parts) == 2 and method == "POST":
                with lock:
                    jid = "j%d" % (len(jobs) + 1)
                    jobs[jid] = {"phase": "PENDING", "runs": 0, "flavour": flavour, "deleted": False}
                return self.reply(303, headers=[("Location", "/%s/async/%s" % (flavour, jid))])
            jid = parts[2]
            job = jobs.get(jid)
            if job is None or job["deleted"]:
                return self.reply(404, "no such job")
            if len(parts) == 4 and parts[3] == "phase" and method == "POST":
                if form.get("PHASE") == "RUN":
                    job["runs"] += 1
                    job["phase"] = {"stuck": "EXECUTING", "failing": "ERROR", "relative": "COMPLETED",
                                    "held": "HELD" if job["runs"] == 1 else "COMPLETED"}[flavour]
                elif form.get("PHASE") == "ABORT":
                    job["phase"] = "ABORTED"
                    job["aborted"] = True
                return self.reply(303, headers=[("Location", "/%s/async/%s" % (flavour, jid))])
            if len(parts) == 4 and parts[3] == "error":
                return self.reply(200, "division by zero in row 3")
            if len(parts) == 5 and parts[3] == "results":
                return self.reply(200, VOTABLE % job["runs"], "application/x-votable+xml")
            if len(parts) == 4 and parts[3] == "state":  # test hook
                return self.reply(200, "%s deleted=%s aborted=%s" % (job["phase"], job["deleted"],
                                                                    job.get("aborted", False)))
            if len(parts) == 3 and method == "POST" and form.get("ACTION") == "DELETE":
                job["deleted"] = True
                return self.reply(303, headers=[("Location", "/%s/async" % flavour)])
            if len(parts) == 3 and method == "GET":
                wait = float(q.get("WAIT", "0"))
                if job["phase"] == "EXECUTING":
                    time.sleep(min(wait, 0.2))
                results = ""
                if job["phase"] == "COMPLETED":
                    href = "%s/results/result" % jid if flavour == "relative" else \
                        "/%s/async/%s/results/result" % (flavour, jid)
                    results = '<uws:result id="result" xlink:href="%s"/>' % href
                summary = ""
                if job["phase"] == "ERROR":
                    summary = "<uws:errorSummary type=\"fatal\"><uws:message>see error</uws:message></uws:errorSummary>"
                return self.reply(200, JOB % (jid, job["phase"], results, summary), "text/xml")
        return self.reply(404, "unknown path " + p)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
