"""The operator commands of the CLI (issue #21, spec §11.1): they act through a running
beampipe's API with a kept sign-in (owner-only file), refresh it when the access token is
refused, and report the API's refusals (exit 1, code and field) without ever printing a token."""
import json
import os
import stat
import subprocess
import tempfile
import uuid

from harness import REFERENCE, Checks, Server, create_user, ready_sources, upload_config, wallaby_config

V2 = "/api/v2"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
c = Checks()
srv = Server()
home = tempfile.mkdtemp(prefix="bp-cli-home-")
creds = os.path.join(home, "beampipe", "credentials.json")


def cli(*argv, stdin=None, url=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    env["XDG_CONFIG_HOME"] = home
    args = [os.environ["BEAMPIPE_BIN"], *argv]
    if url:
        args += ["--url", f"http://127.0.0.1:{srv.port}"]
    r = subprocess.run(args, input=stdin, capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


try:
    srv.wait_ready()
    me = srv.request("GET", V2 + "/ready")[1]["node"]["id"]
    rc, out, err = cli("status")
    c.eq("not signed in yet: a usage error", (rc, "beampipe login" in err), (2, True))
    rc, out, err = cli("login", "--username", srv.env["BEAMPIPE_ADMIN_USERNAME"], stdin="wrong\n")
    c.eq("a wrong password is refused and nothing kept", (rc, "401" in err, os.path.exists(creds)),
         (1, True, False))
    password = srv.env["BEAMPIPE_ADMIN_PASSWORD"]
    rc, out, err = cli("login", "--username", srv.env["BEAMPIPE_ADMIN_USERNAME"], stdin=password + "\n")
    c.eq("signed in", (rc, "signed in" in out), (0, True))
    mode = stat.S_IMODE(os.stat(creds).st_mode)
    dmode = stat.S_IMODE(os.stat(os.path.dirname(creds)).st_mode)
    c.eq("the sign-in is owner-only", (oct(mode), oct(dmode)), (oct(0o600), oct(0o700)))
    with open(creds) as f:
        kept = json.load(f)
    c.true("no token or password on the terminal",
           kept["access_token"] not in out + err and kept["refresh_token"] not in out + err and password not in out)

    rc, out, err = cli("status")
    c.eq("status", (rc, "workers" in out and "executions" in out), (0, True))
    rc, out, err = cli("status", "--json")
    c.eq("status as JSON", (rc, json.loads(out)["active_workers"]), (0, 1))
    rc, out, err = cli("worker", "list")
    c.eq("worker list shows this node", (rc, me in out, "1 worker(s)" in out), (0, True, True))
    rc, out, err = cli("worker", "drain", me, "--reason", "cli test")
    c.eq("worker drain", (rc, "is draining" in out), (0, True))
    rc, out, err = cli("worker", "show", me, "--json")
    c.eq("the drain is recorded", (rc, json.loads(out)["drain_reason"]), (0, "cli test"))
    rc, out, err = cli("worker", "resume", me)
    c.eq("worker resume", (rc, "is active" in out), (0, True))
    rc, out, err = cli("worker", "leases", me, "--json")
    c.eq("worker leases", (rc, "items" in json.loads(out)), (0, True))
    rc, out, err = cli("worker", "drain", "nobody")
    c.eq("the API's refusal, named", (rc, "404 not_found" in err), (1, True))
    rc, out, err = cli("worker", "drain", "a/b")
    c.eq("an id that would change the request is refused here", rc, 2)
    rc, out, err = cli("execution", "cancel", str(uuid.uuid4()))
    c.eq("cancel an unknown execution", (rc, "404" in err), (1, True))
    rc, out, err = cli("execution", "retry", "not-a-uuid")
    c.eq("retry with a bad id names the field", (rc, "field id" in err), (1, True))

    upload_config(srv, wallaby_config(GRAPH))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    rc, out, err = cli("graph", "prepare", "--project", "wallaby_hires", "--sources", "HIPASSJ1313-15")
    preview = json.loads(out) if rc == 0 else {}
    c.eq("graph prepare summarises the preview", (rc, len(preview.get("manifest_sha256", "")),
                                                  "patch_summary" in preview, "manifest" in preview), (0, 64, True, False))
    rc, out, err = cli("graph", "prepare", "--project", "nope", "--sources", "X")
    c.eq("graph prepare of an unknown project", rc, 1)

    # A refused access token is refreshed once with the kept refresh token, and the new pair kept.
    kept["access_token"] = "garbage"
    with open(creds, "w") as f:
        json.dump(kept, f)
    rc, out, err = cli("status", "--json")
    with open(creds) as f:
        renewed = json.load(f)
    c.eq("a refused access token is refreshed", (rc, renewed["access_token"] != "garbage",
                                                 renewed["refresh_token"] != kept["refresh_token"]), (0, True, True))

    create_user(srv.conninfo, "plaincli", "plain-cli-password")
    rc, out, err = cli("logout")
    c.eq("logout forgets the sign-in", (rc, os.path.exists(creds)), (0, False))
    st, _, _, _ = srv.request("POST", V2 + "/refresh", {"refresh_token": renewed["refresh_token"]}, auth=False)
    c.eq("and revoked it at the API", st, 401)
    rc, out, err = cli("login", "--username", "plaincli", stdin="plain-cli-password\n")
    rc, out, err = cli("worker", "drain", me)
    c.eq("a plain user may not drain", (rc, "403" in err), (1, True))
    rc, out, err = cli("status")
    c.eq("but reads the status", rc, 0)
    rc, out, err = cli("status", "--url", "http://127.0.0.1:1", url=False)
    c.eq("an unreachable API", (rc, "cannot reach" in err), (1, True))
    rc, out, err = cli("config", "explain", url=False)
    c.eq("config explain lists the settings", (rc, "BEAMPIPE_BIND_ADDR=" in out), (0, True))
    rc, out, err = cli("worker", "--help", url=False)
    c.eq("worker --help still documents running a worker", rc, 0)
finally:
    srv.stop()
c.finish()
