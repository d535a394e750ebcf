"""Auth end to end (issue #7): bearer tokens on every route but the open ones, forged tokens
refused over HTTP, refresh rotation with reuse detection revoking the family, logout, users
made with `beampipe admin`, superuser-only writes (403), rate limits with Retry-After (and
X-Forwarded-For only from trusted proxies), the authorization matrix read from the served
OpenAPI document, the production gates and `beampipe security check`, and no token or
password in any event."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time
import uuid

from harness import ADMIN_PASSWORD, JWT_SECRET, Checks, Server, fresh_database

V2 = "/api/v2"
BIN = os.environ["BEAMPIPE_BIN"]
c = Checks()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def payload_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def forge(header, claims, key=JWT_SECRET):
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def admin(db, *argv, password=None):
    """Runs `beampipe admin ...` against the test database; returns (exit code, output)."""
    args = [BIN, "admin", *argv, "--database-url", db]
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write((password or "") + "\n")
    if password is not None:
        args += ["--password-file", f.name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_ADMIN")}
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    os.unlink(f.name)
    return r.returncode, r.stdout + r.stderr


db = fresh_database()
srv = Server(conninfo=db)
try:
    srv.wait_ready()
    tok = srv.login()
    c.eq("login answers a token pair", sorted(tok), ["access_token", "expires_in", "refresh_token", "token_type"])
    claims = payload_of(tok["access_token"])
    c.eq("access claims", (claims["sub"], claims["typ"], sorted(claims)),
         ("bbadmin", "access", ["exp", "fam", "iat", "jti", "sub", "typ"]))
    c.eq("refresh token of the same family", payload_of(tok["refresh_token"])["fam"], claims["fam"])

    # --- the bearer check
    st, err, hdrs, _ = srv.request("GET", V2 + "/sources", auth=False)
    c.eq("no header", (st, err["code"], hdrs.get("WWW-Authenticate")), (401, "not_authenticated", "Bearer"))
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers={"Authorization": "Basic YTpi"})
    c.eq("another scheme", st, 401)
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers={"Authorization": "bearer " + tok["access_token"]})
    c.eq("the scheme is case-sensitive (spec §9.1)", st, 401)
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(tok["access_token"]))
    c.eq("a valid token", st, 200)
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(tok["refresh_token"]))
    c.eq("a refresh token is not an access token", st, 401)

    now = int(time.time())
    base = {"sub": "bbadmin", "typ": "access", "fam": claims["fam"], "iat": now, "exp": now + 600}
    hs = {"alg": "HS256", "typ": "JWT"}
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(forge(hs, dict(base, jti="a"))))
    c.eq("control: a token made by hand with the server's secret is accepted", st, 200)
    forged = {
        "alg none": b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(json.dumps(dict(base, jti="b")).encode()) + ".",
        "HS/RS confusion": forge({"alg": "RS256", "typ": "JWT"}, dict(base, jti="c")),
        "expired (beyond the 60 s leeway)": forge(hs, dict(base, jti="d", exp=now - 120)),
        "another secret": forge(hs, dict(base, jti="e"), key="not-the-server-secret-0123456789"),
        "another user's name": forge(hs, dict(base, jti="f", sub="nobody")),
        "an unknown family": forge(hs, dict(base, jti="g", fam=str(uuid.uuid4()))),
    }
    head, body, sig = tok["access_token"].split(".")
    forged["tampered"] = head + "." + b64url(json.dumps(dict(payload_of(tok["access_token"]), sub="root")).encode()) + "." + sig
    for what, t in forged.items():
        st, err, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(t))
        c.eq(f"forged: {what}", st, 401)

    # --- refresh rotation and reuse
    st, pair2, _, _ = srv.request("POST", V2 + "/refresh", {"refresh_token": tok["refresh_token"]}, auth=False)
    c.eq("refresh rotates", (st, pair2["refresh_token"] != tok["refresh_token"],
                             payload_of(pair2["refresh_token"])["fam"]), (200, True, claims["fam"]))
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(pair2["access_token"]))
    c.eq("the new access token works", st, 200)
    st, err, _, _ = srv.request("POST", V2 + "/refresh", {"refresh_token": tok["refresh_token"]}, auth=False)
    c.eq("a reused refresh token is refused", (st, err["code"]), (401, "token_revoked"))
    st, _, _, _ = srv.request("GET", V2 + "/sources", headers=bearer(pair2["access_token"]))
    c.eq("reuse revoked the family's access tokens", st, 401)
    st, _, _, _ = srv.request("POST", V2 + "/refresh", {"refresh_token": pair2["refresh_token"]}, auth=False)
    c.eq("and its current refresh token", st, 401)
    st, err, _, _ = srv.request("POST", V2 + "/refresh", {}, auth=False)
    c.eq("refresh without a token", (st, err.get("field")), (400, "refresh_token"))

    # --- logout
    t3 = srv.login()
    st, _, _, _ = srv.request("POST", V2 + "/logout", {}, auth=False)
    c.eq("logout needs a token", st, 400)
    st, _, _, _ = srv.request("POST", V2 + "/logout", {"refresh_token": "junk"}, auth=False)
    c.eq("logout with a bad token", st, 401)
    st, _, _, _ = srv.request("POST", V2 + "/logout", {"refresh_token": t3["refresh_token"]}, auth=False)
    c.eq("logout", st, 204)
    st, err, _, _ = srv.request("GET", V2 + "/user/me", headers=bearer(t3["access_token"]))
    c.eq("the access token after logout", (st, err["code"]), (401, "token_revoked"))
    st, _, _, _ = srv.request("POST", V2 + "/refresh", {"refresh_token": t3["refresh_token"]}, auth=False)
    c.eq("the refresh token after logout", st, 401)

    # --- users from the CLI, superuser-only writes
    rc, out = admin(db, "create-user", "--username", "ops", "--email", "ops@example.org", password="ops-password-1")
    c.eq("admin create-user", (rc, "created user 'ops'" in out), (0, True))
    rc, out = admin(db, "create-user", "--username", "OPS", "--email", "x@example.org", password="ops-password-1")
    c.eq("a taken name (case-insensitive) is refused", (rc != 0, "username" in out), (True, True))
    rc, out = admin(db, "create-user", "--username", "short", "--email", "s@example.org", password="abc")
    c.eq("a short password is refused", (rc != 0, "password" in out), (True, True))
    st, ops, _, _ = srv.request("POST", V2 + "/login", {"username": "ops", "password": "ops-password-1"}, auth=False)
    c.eq("the new user signs in", st, 200)
    st, me, _, _ = srv.request("GET", V2 + "/user/me", headers=bearer(ops["access_token"]))
    c.eq("/user/me", (st, me["username"], me["is_superuser"]), (200, "ops", False))
    st, _, _, _ = srv.request("GET", V2 + "/deployment-profiles", headers=bearer(ops["access_token"]))
    c.eq("a user reads", st, 200)
    st, err, _, _ = srv.request("POST", V2 + "/deployment-profiles", {"name": "p"}, headers=bearer(ops["access_token"]))
    c.eq("a user may not write profiles", (st, err["code"]), (403, "forbidden"))
    st, _, _, _ = srv.request("POST", V2 + "/jobs", {"kind": "discover_source"}, headers=bearer(ops["access_token"]))
    c.eq("a user may not enqueue jobs", st, 403)
    st, _, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "m", "source_identifier": "s1"},
                              headers=bearer(ops["access_token"]))
    c.eq("a user registers sources", st, 200)

    def status_once_settled(token, want, timeout=10):
        """The CLI's events reach the server's read models a moment later: poll until `want`."""
        deadline = time.time() + timeout
        while True:
            st = srv.request("GET", V2 + "/sources", headers=bearer(token))[0]
            if st == want or time.time() > deadline:
                return st
            time.sleep(0.05)

    rc, out = admin(db, "set-password", "--username", "ops", password="ops-password-2")
    c.eq("admin set-password", rc, 0)
    c.eq("a password change revokes the user's sessions", status_once_settled(ops["access_token"], 401), 401)
    st, _, _, _ = srv.request("POST", V2 + "/login", {"username": "ops", "password": "ops-password-1"}, auth=False)
    c.eq("the old password no longer works", st, 401)
    st, ops, _, _ = srv.request("POST", V2 + "/login", {"username": "ops", "password": "ops-password-2"}, auth=False)
    c.eq("the new one does", st, 200)
    rc, out = admin(db, "disable-user", "--username", "ops")
    c.eq("admin disable-user", rc, 0)
    c.eq("a disabled user's token stops working", status_once_settled(ops["access_token"], 401), 401)

    # --- the authorization matrix, from the served contract
    rc, out = admin(db, "create-user", "--username", "viewer", "--email", "v@example.org", password="viewer-password")
    st, viewer, _, _ = srv.request("POST", V2 + "/login", {"username": "viewer", "password": "viewer-password"}, auth=False)
    st, doc, _, _ = srv.request("GET", V2 + "/openapi.json")
    c.eq("the contract is served", st, 200)
    ops_seen = 0
    for path, item in (doc or {}).get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            level = op.get("x-beampipe-auth")
            concrete = path
            for seg in path.split("/"):
                if seg.startswith("{"):
                    concrete = concrete.replace(seg, "00000000-0000-7000-8000-000000000000" if seg != "{module}" else "nomodule", 1)
            body = {} if method in ("post", "patch", "put") else None
            if concrete.endswith("/logout") or concrete.endswith("/login") or concrete.endswith("/refresh"):
                body = {"username": "nobody", "password": "x"} if concrete.endswith("/login") else {}
            anon = srv.request(method.upper(), concrete, body, auth=False)[0]
            as_user = srv.request(method.upper(), concrete, body, headers=bearer(viewer["access_token"]))[0]
            as_admin = srv.request(method.upper(), concrete, body)[0]
            ops_seen += 1
            what = f"{method.upper()} {path} ({level})"
            if level == "open":
                c.true(what + " anonymous passes the guard", anon not in (401, 403) or concrete.endswith(("/login", "/refresh", "/logout")))
            else:
                c.eq(what + " anonymous", anon, 401)
            if level == "superuser":
                c.eq(what + " user", as_user, 403)
            else:
                c.true(what + " user passes", as_user not in (401, 403) or concrete.endswith(("/login", "/refresh", "/logout")))
            c.true(what + " superuser passes", as_admin not in (401, 403) or concrete.endswith(("/login", "/refresh", "/logout")))
    c.true("the matrix covered the contract", ops_seen >= 50)

    # --- no token, jti-less secret or password in the history
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    types = [e["type"] for e in feed["events"]]
    c.true("session events recorded", {"SessionStarted", "SessionRefreshed", "SessionRevoked"} <= set(types))
    dump = json.dumps(feed)
    c.true("no token or password in events",
           not any(s in dump for s in (tok["access_token"], tok["refresh_token"], t3["refresh_token"],
                                       ADMIN_PASSWORD, "ops-password-1", "argon2")))
    reasons = sorted(e["data"]["reason"] for e in feed["events"] if e["type"] == "SessionRevoked")
    c.eq("revocation reasons", reasons, ["logout", "password_changed", "refresh_token_reuse"])

    # --- profiles never hold secrets
    st, err, _, _ = srv.request("POST", V2 + "/deployment-profiles", {
        "name": "leaky", "project_module": "wallaby_hires", "is_default": False,
        "translation": {"algo": "metis", "num_par": 1, "num_islands": 0},
        "deployment": {"kind": "slurm_remote", "slurm": {"password": "hunter2"}}})
    c.eq("a profile with a secret is refused", st, 422)
    st, rows, _, _ = srv.request("GET", V2 + "/deployment-profiles")
    c.true("and not stored", "hunter2" not in json.dumps(rows))
finally:
    srv.stop()
c.true("no token or password in the log", not any(ADMIN_PASSWORD in l or "ops-password" in l for l in srv.log))

# --- rate limits: per client and route, X-Forwarded-For only from a trusted proxy
lim = Server(extra_env={"BEAMPIPE_RATE_LIMIT_REQUESTS": "3", "BEAMPIPE_RATE_LIMIT_PERIOD_SECONDS": "3600"})
try:
    lim.wait_ready(signed_in=False)  # a sign-in would count against the login limit
    bad = {"username": "bbadmin", "password": "wrong-password"}
    codes = [lim.request("POST", V2 + "/login", bad, headers={"X-Forwarded-For": f"10.0.0.{i}"}, auth=False)[0]
             for i in range(3)]
    c.eq("three bad logins are answered", codes, [401, 401, 401])
    st, err, hdrs, _ = lim.request("POST", V2 + "/login", {"username": "bbadmin", "password": ADMIN_PASSWORD},
                                   headers={"X-Forwarded-For": "10.9.9.9"}, auth=False)
    retry = int(hdrs.get("Retry-After", "0"))
    c.eq("the fourth is limited, even with the right password and a forged XFF", (st, err["code"]), (429, "rate_limited"))
    c.true("Retry-After within the period", 0 < retry <= 3600)
    st, _, _, _ = lim.request("POST", V2 + "/refresh", {"refresh_token": "x"}, auth=False)
    c.eq("another route has its own window", st, 401)
finally:
    lim.stop()

proxy = Server(extra_env={"BEAMPIPE_RATE_LIMIT_REQUESTS": "2", "BEAMPIPE_TRUSTED_PROXY_CIDRS": "127.0.0.0/8"})
try:
    proxy.wait_ready()
    bad = {"username": "bbadmin", "password": "wrong-password"}
    got = [proxy.request("POST", V2 + "/login", bad, headers={"X-Forwarded-For": "192.0.2.7, 127.0.0.1"}, auth=False)[0]
           for _ in range(3)]
    c.eq("behind a trusted proxy the client is the XFF address", got, [401, 401, 429])
    st, _, _, _ = proxy.request("POST", V2 + "/login", bad, headers={"X-Forwarded-For": "192.0.2.8"}, auth=False)
    c.eq("another client behind the proxy is not limited", st, 401)
finally:
    proxy.stop()

# --- production gates and the security check
clean = {k: v for k, v in os.environ.items() if not k.startswith(("BEAMPIPE_", "SLURM_SSH", "CASDA_"))}


def security(extra):
    r = subprocess.run([BIN, "security", "check", "--json"], capture_output=True, text=True,
                       env=dict(clean, **extra), timeout=30)
    return r.returncode, json.loads(r.stdout)


rc, rep = security({})
c.eq("development: the default secret only warns", (rc, rep["environment"],
     [f["status"] for f in rep["findings"] if f["check"] == "jwt.secret"]), (0, "development", ["warn"]))
rc, rep = security({"BEAMPIPE_ENV": "production"})
c.eq("production: the default secret fails", (rc, [f["check"] for f in rep["findings"] if f["status"] == "fail"]),
     (1, ["jwt.secret"]))
good = {"BEAMPIPE_ENV": "production", "BEAMPIPE_JWT_SECRET": "x" * 40}
rc, rep = security(dict(good, BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS="false"))
c.eq("production: lax host keys fail", (rc, [f["check"] for f in rep["findings"] if f["status"] == "fail"]),
     (1, ["ssh.host_keys"]))
rc, rep = security(dict(good, BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS="false", BEAMPIPE_ALLOW_INSECURE_SSH_HOST_KEYS="true"))
c.eq("break-glass turns it into a warning", rc, 0)
rc, rep = security(dict(good, BEAMPIPE_CLUSTER_BIND_ADDR="0.0.0.0:7100"))
c.eq("production: a cluster port without TLS fails", (rc, [f["check"] for f in rep["findings"]
                                                          if f["status"] == "fail"]), (1, ["cluster.transport"]))
with tempfile.NamedTemporaryFile("w", delete=False) as key:
    key.write("not really a key\n")
os.chmod(key.name, 0o644)
rc, rep = security(dict(good, SLURM_SSH_PRIVATE_KEY_FILE=key.name))
c.eq("production: a world-readable key fails", (rc, [f["check"] for f in rep["findings"] if f["status"] == "fail"]),
     (1, ["ssh.private_key"]))
os.chmod(key.name, 0o600)
rc, rep = security(dict(good, SLURM_SSH_PRIVATE_KEY_FILE=key.name))
c.eq("a 0600 key passes", rc, 0)
os.unlink(key.name)
c.true("the report never shows the secret", "x" * 40 not in json.dumps(rep))

# --- an admin command's effect is in the read models when it returns, server or not: the
# next sign-in (on any node) sees it, with no window where a new user gets a 401
alone = fresh_database()
PSQL = "/usr/lib/postgresql/15/bin/psql"


def user_row(name):
    return subprocess.run([PSQL, alone, "-Atc", f"SELECT username, disabled FROM users WHERE username = '{name}'"],
                          capture_output=True, text=True, check=True).stdout.strip()


rc, _ = admin(alone, "create-user", "--username", "solo", "--email", "solo@example.org", password="solo-password-1")
c.eq("with no server running, create-user leaves the user in the read model", (rc, user_row("solo")), (0, "solo|f"))
rc, _ = admin(alone, "disable-user", "--username", "solo")
c.eq("and disable-user its disabled state", (rc, user_row("solo")), (0, "solo|t"))

r = subprocess.run([BIN, "serve"], capture_output=True, text=True, timeout=60,
                   env=dict(clean, BEAMPIPE_ENV="production", DATABASE_URL=fresh_database(),
                            BEAMPIPE_BIND_ADDR="127.0.0.1:0"))
c.eq("production refuses to start with the default secret", (r.returncode != 0, "jwt.secret" in r.stderr), (True, True))
prod = Server(extra_env={"BEAMPIPE_ENV": "production", "BEAMPIPE_ALLOW_INLINE_SECRETS": "true"})
try:
    st, _, _, _ = prod.request("GET", V2 + "/sources")
    c.eq("production starts with sound settings", st, 200)
finally:
    prod.stop()
c.finish()
