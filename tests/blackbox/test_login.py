"""Sign-in: the first superuser is created from the environment once; POST /login (JSON and form)
answers an HS256 access token, refuses bad credentials with 401 and bad bodies with 400 naming the
field; GET /user/me answers the user for a valid token and 401 otherwise; no password or hash
appears in any response, event or log line."""
import json
import time
import urllib.parse

from harness import Checks, Server, fresh_database

V2 = "/api/v2"
PASSWORD = "s3cret-Pass phrase+1"
ENV = {"BEAMPIPE_ADMIN_USERNAME": "Admin", "BEAMPIPE_ADMIN_PASSWORD": PASSWORD,
       "BEAMPIPE_JWT_SECRET": "test-jwt-secret-0123456789abcdef"}
c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def login(body):
    return srv.request("POST", V2 + "/login", body)


def events():
    st, feed, _, _ = srv.request("GET", V2 + "/events?limit=1000")
    return feed["events"]


try:
    deadline = time.time() + 30
    while True:  # the users read model catches up with the bootstrap just after start
        st, tok, _, _ = login({"username": "admin", "password": PASSWORD})
        if st == 200 or time.time() > deadline:
            break
        time.sleep(0.1)
    c.eq("login by JSON (username case-insensitive)", (st, tok.get("token_type")), (200, "bearer"))
    c.true("with a refresh token", tok.get("refresh_token", "").count(".") == 2)
    c.eq("token lifetime", tok.get("expires_in"), 1800)
    form = urllib.parse.urlencode({"username": "Admin", "password": PASSWORD})
    st, ftok, _, _ = srv.request("POST", V2 + "/login", raw_body=form.encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    c.eq("login by form (space and plus in the password)", st, 200)

    st, err, _, _ = login({"username": "admin", "password": PASSWORD + "x"})
    c.eq("wrong password", (st, err.get("code")), (401, "invalid_credentials"))
    st, err2, _, _ = login({"username": "nobody", "password": PASSWORD})
    c.eq("unknown user: the same answer", (st, err2.get("detail")), (401, err.get("detail")))
    st, err, _, _ = login({"username": "admin"})
    c.eq("missing password", (st, err.get("field")), (400, "password"))
    st, err, _, _ = login({"username": "admin", "password": PASSWORD, "otp": 1})
    c.eq("unknown field", (st, err.get("field")), (400, "otp"))

    st, me, _, _ = srv.request("GET", V2 + "/user/me", headers={"Authorization": "Bearer " + tok["access_token"]})
    c.eq("/user/me", (st, me.get("username"), me.get("is_superuser"), me.get("email")),
         (200, "Admin", True, "Admin@localhost"))
    c.true("no credential in /user/me", not any(k in me for k in ("password", "hash", "password_hash")))
    st, _, _, _ = srv.request("GET", V2 + "/user/me", auth=False)
    c.eq("no token", st, 401)
    t = tok["access_token"]
    head, payload, sig = t.split(".")
    forged = head + "." + payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + sig
    st, _, _, _ = srv.request("GET", V2 + "/user/me", headers={"Authorization": "Bearer " + forged})
    c.eq("tampered token", st, 401)

    evs = [e for e in events() if e["type"].startswith("User")]
    c.eq("one UserCreated", [e["type"] for e in evs], ["UserCreated"])
    dump = json.dumps(events()) + json.dumps(tok) + json.dumps(me)
    c.true("no password or hash in events or answers", PASSWORD not in dump and "argon2" not in dump)
    srv.stop()
    c.true("no password in the log", not any(PASSWORD in line for line in srv.log))

    srv = Server(conninfo=db, extra_env=ENV)  # a restart does not create the user again
    srv.wait_ready()
    st, tok2, _, _ = login({"username": "admin", "password": PASSWORD})
    c.eq("login after restart", st, 200)
    c.eq("still one UserCreated", [e["type"] for e in events() if e["type"].startswith("User")], ["UserCreated"])
finally:
    srv.stop()
c.finish()
