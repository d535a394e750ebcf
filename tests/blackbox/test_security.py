"""Issue #16, the high and low findings of the audit, each as it was reproduced:

* tokens were forgeable by default (a public constant signed them, and every user saw the
  session families in GET /events): now a random secret is generated once per database and
  kept there, shared by every node, and sign-ins and users are shown to superusers only;
* /ready told anonymous callers hosts, pids, dependency targets and database errors;
* POST /sources/discover took unbounded identifier lists and loaded an actor even for
  sources that do not exist; it and /sources/bulk recorded the actor as system:api;
* error texts with credentials reached events in clear (redaction only on some read paths).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import tempfile
import time

from harness import Checks, Server, V2, fresh_database, upload_config, wait_for, wallaby_config

BIN = os.environ["BEAMPIPE_BIN"]
FORMER_CONSTANT = "beampipe-development-secret-change-me"
c = Checks()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims, key):
    signing = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing + "." + b64url(hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest())


def payload_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def bearer(token):
    return {"Authorization": "Bearer " + token}


def create_user(db, name, password, superuser=False):
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(password + "\n")
    args = [BIN, "admin", "create-user", "--username", name, "--email", name + "@example.org",
            "--password-file", f.name, "--database-url", db] + (["--superuser"] if superuser else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    os.unlink(f.name)
    return r.returncode


def metric(srv, name, labels):
    st, _, _, text = srv.request("GET", V2 + "/metrics")
    m = re.search(re.escape(name + labels) + r" (\d+)", text)
    return int(m.group(1)) if m else 0


db = fresh_database()
# No BEAMPIPE_JWT_SECRET: the server must not fall back to a constant.
no_secret = {"BEAMPIPE_JWT_SECRET": ""}
srv = Server(conninfo=db, extra_env=no_secret)
second = None
try:
    srv.wait_ready()
    admin_token = srv.login()["access_token"]
    claims = payload_of(admin_token)
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(admin_token))
    c.eq("the generated secret signs working tokens", st, 200)
    forged = forge(dict(claims, jti="forged-1"), FORMER_CONSTANT)
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(forged))
    c.eq("a token signed with the former public constant is refused", st, 401)
    secret = subprocess.run(["/usr/lib/postgresql/15/bin/psql", db, "-qAtc",
                             "SELECT secret FROM auth_signing_secret"], capture_output=True, text=True).stdout.strip()
    c.eq("the secret is 256 random bits kept in the database", len(secret), 64)
    c.true("the secret is in no log line", not any(secret in line for line in srv.log))
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000", headers=bearer(admin_token))
    c.true("the secret is in no event", secret not in json.dumps(feed))

    # A second node on the same database verifies the first node's tokens.
    second = Server(conninfo=db, extra_env=no_secret)
    second.wait_ready()
    st, _, _, _ = second.request("GET", V2 + "/sources", headers=bearer(admin_token))
    c.eq("another node accepts the token", st, 200)

    # --- sign-ins and users are for superusers' eyes
    c.eq("a normal user", create_user(db, "viewer", "viewer-password-1"), 0)
    st, tok, _, _ = srv.request("POST", V2 + "/login", {"username": "viewer", "password": "viewer-password-1"},
                                auth=False)
    viewer = tok["access_token"]
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000", headers=bearer(viewer))
    types = {e["stream_type"] for e in feed["events"]}
    c.eq("a user's feed shows no sessions or users", types & {"session", "user"}, set())
    c.true("and no session family", claims["fam"] not in json.dumps(feed))
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000", headers=bearer(admin_token))
    c.true("a superuser's feed has them", {"session", "user"} <= {e["stream_type"] for e in feed["events"]})
    # Paging past hidden events: a small page still advances and never shows them.
    after, seen = 0, []
    for _ in range(200):
        st, page, _, _ = srv.request("GET", f"{V2}/events?after={after}&limit=2", headers=bearer(viewer))
        seen += page["events"]
        if page["next_after"] == after:
            break
        after = page["next_after"]
    c.eq("paging as a user never shows them", {e["stream_type"] for e in seen} & {"session", "user"}, set())
    c.true("paging reaches the end", after > 0)
    # A forged superuser token with a real admin family and the old constant: refused.
    forged = forge(dict(claims, sub="viewer", jti="forged-2"), FORMER_CONSTANT)
    st, _, _, _ = srv.request("POST", V2 + "/deployment-profiles", {"name": "x"}, headers=bearer(forged))
    c.eq("a forged token does not pass the superuser gate", st, 401)

    # --- /ready: status only for anonymous callers, details for users
    st, anon, _, text = srv.request("GET", V2 + "/ready", auth=False)
    c.eq("anonymous /ready answers status and service only", (st, sorted(anon)), (200, ["service", "status"]))
    st, full, _, _ = srv.request("GET", V2 + "/ready", headers=bearer(viewer))
    c.true("a user sees the details", "nodes" in full and "database" in full)
    st, anon, _, _ = srv.request("GET", V2 + "/ready", auth=False, headers={"Authorization": "Bearer nonsense"})
    c.eq("a bad token on an open route is anonymous, not refused", (st, sorted(anon)), (200, ["service", "status"]))

    # --- discover: bounded lists, no actor for unknown sources, the caller recorded
    upload_config(srv, wallaby_config())
    st, body, _, _ = srv.request("POST", V2 + "/sources/discover", {
        "project_module": "wallaby_hires", "source_identifiers": [f"s{i}" for i in range(1001)]},
        headers=bearer(viewer))
    c.eq("more than 1000 identifiers are refused", (st, body.get("field")), (400, "source_identifiers"))
    before = metric(srv, "beampipe_live_actors", '{kind="source"}')
    st, body, _, _ = srv.request("POST", V2 + "/sources/discover", {
        "project_module": "wallaby_hires", "source_identifiers": [f"unknown{i}" for i in range(900)]},
        headers=bearer(viewer))
    c.eq("unknown sources are skipped", (st, len(body.get("skipped", [])), body.get("marked_count")),
         (200, 900, 0))
    c.eq("no actor was loaded for them", metric(srv, "beampipe_live_actors", '{kind="source"}'), before)
    st, body, _, _ = srv.request("POST", V2 + "/sources/bulk", {"items": [
        {"project_module": "wallaby_hires", "source_identifier": "HIPASSJ1313-15", "enabled": True}]},
        headers=bearer(viewer))
    c.eq("bulk registration", st, 200)
    st, body, _, _ = srv.request("POST", V2 + "/sources/discover", {
        "project_module": "wallaby_hires", "source_identifiers": ["HIPASSJ1313-15", "nope"]},
        headers=bearer(viewer))
    c.eq("a known source is marked", (st, body.get("source_identifiers")), (200, ["HIPASSJ1313-15"]))
    me = srv.request("GET", V2 + "/user/me", headers=bearer(viewer))[1]["uuid"]
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000", headers=bearer(admin_token))
    actors = {e["type"]: e["metadata"].get("actor") for e in feed["events"] if e["stream_type"] == "source"}
    c.eq("bulk registration records the user", actors.get("SourceRegistered"), "user:" + me)
    c.eq("discovery requests record the user", actors.get("DiscoveryRequested"), "user:" + me)
finally:
    srv.stop()
    if second:
        second.stop()

# --- error texts keep no secret in events: a TAP service URL with a token fails discovery
db = fresh_database()
srv = Server(conninfo=db, extra_env={"BEAMPIPE_CASDA_TAP_URL": "http://127.0.0.1:9/tap?token=SECRETTOKEN42",
                                     "BEAMPIPE_VIZIER_TAP_URL": "http://user:SECRETPASS42@127.0.0.1:9/tap",
                                     "BEAMPIPE_WORKER_MAX_ATTEMPTS": "1"})
try:
    srv.wait_ready()
    upload_config(srv, wallaby_config())
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "HIPASSJ1313-15",
                                          "enabled": True})
    srv.request("POST", V2 + "/sources/discover", {"project_module": "wallaby_hires"})

    def failed():
        st, rows, _, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires")
        return rows and rows[0]["last_discovery_error"]
    error = wait_for("the discovery failure", failed, timeout=60)
    print("recorded error:", error)
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    text = json.dumps(feed)
    c.true("the failure was recorded", "DiscoveryFailed" in text)
    c.true("no token in any event", "SECRETTOKEN42" not in text and "SECRETPASS42" not in text)
    c.true("no token in the read model", "SECRETTOKEN42" not in error and "SECRETPASS42" not in error)
    leaks = [line for line in srv.log if "SECRETTOKEN42" in line or "SECRETPASS42" in line]
    c.eq("no token in the log", leaks, [])
    st, ready, _, _ = srv.request("GET", V2 + "/ready")
    c.true("no token in /ready", "SECRET" not in json.dumps(ready))
finally:
    srv.stop()
c.finish()
