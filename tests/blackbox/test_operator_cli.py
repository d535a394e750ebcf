"""The operator commands of the CLI (issue #21, spec §11.1): they act through a running
beampipe's API with a kept sign-in (owner-only file), refresh it when the access token is
refused, and report the API's refusals (exit 1, code and field) without ever printing a token."""
import hashlib
import json
import os
import stat
import subprocess
import tempfile
import uuid

from harness import (REFERENCE, Checks, Server, create_profile, create_user, ready_sources, upload_config,
                     wallaby_config)

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

    # Configure through the API: a project config, a profile (YAML), a WASM module.
    work = tempfile.mkdtemp(prefix="bp-cli-files-")
    minimal = os.path.join(REFERENCE, "minimal_survey.v1.yaml")
    rc, out, err = cli("project", "add", "-f", minimal)
    c.eq("project add", (rc, json.loads(out).get("project_id") if rc == 0 else err), (0, "minimal_survey"))
    bad_yaml = os.path.join(work, "bad.yaml")
    with open(bad_yaml, "w") as f:
        f.write("apiVersion: beampipe.dev/v1\nkind: Project\nmetadata: {}\n")
    rc, out, err = cli("project", "add", "-f", bad_yaml)
    c.eq("an invalid config is refused by the API, its path named", (rc, "metadata.id" in err), (1, True))
    module = (b"\0asm\x01\x00\x00\x00\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00"
              b"\x07\x0a\x01\x06answer\x00\x00\x0a\x06\x01\x04\x00\x41\x2a\x0b")
    wasm = os.path.join(work, "hook.wasm")
    with open(wasm, "wb") as f:
        f.write(module)
    rc, out, err = cli("wasm", "upload", "--config-id", "minimal_survey", "-f", wasm)
    c.eq("wasm upload", (rc, json.loads(out).get("wasm_sha256") if rc == 0 else err),
         (0, hashlib.sha256(module).hexdigest()))
    profile = os.path.join(work, "profile.yaml")
    with open(profile, "w") as f:
        f.write("name: cli-dim\nproject_module: minimal_survey\nis_default: false\n"
                "translation: {algo: metis, num_par: 1, num_islands: 0}\n"
                "deployment: {kind: rest_remote, deploy_host: 127.0.0.1, deploy_port: 8001}\n")
    rc, out, err = cli("profile", "validate", "-f", profile, url=False)
    c.eq("profile validate, offline", (rc, "valid deployment profile 'cli-dim'" in out), (0, True))
    bad_profile = os.path.join(work, "bad-profile.json")
    with open(bad_profile, "w") as f:
        json.dump({"name": "x", "deployment": {"kind": "rest_remote", "deploy_port": 99999}}, f)
    rc, out, err = cli("profile", "validate", "-f", bad_profile, url=False)
    c.eq("an invalid profile names its paths", (rc, "deployment.deploy_port" in out), (1, True))
    rc, out, err = cli("profile", "add", "-f", profile)
    c.eq("profile add", (rc, json.loads(out).get("name") if rc == 0 else err), (0, "cli-dim"))
    rc, out, err = cli("profile", "add", "-f", profile)
    c.eq("the same name twice is the API's conflict", (rc, "409" in err), (1, True))
    rc, out, err = cli("project", "explain", "-f", minimal, "--json", url=False)
    c.eq("project explain", (rc, json.loads(out)["project_id"], json.loads(out)["valid"]), (0, "minimal_survey", True))
    rc, out, err = cli("project", "explain", "-f", minimal, url=False)
    c.eq("project explain in words", (rc, "For each source, discovery runs:" in out), (0, True))
    rc, out, err = cli("project", "explain", "-f", bad_yaml, url=False)
    c.eq("project explain of an invalid config", (rc, "INVALID" in out, "metadata.id" in out), (1, True, True))
    rc, out, err = cli("profile", "render", "-f", profile, url=False)
    c.eq("profile render", (rc, json.loads(out).get("manager_url")), (0, "http://127.0.0.1:8001"))
    graph2 = os.path.join(work, "changed.graph")
    with open(GRAPH) as f:
        g = json.load(f)
    g["nodeDataArray"].pop()
    with open(graph2, "w") as f:
        json.dump(g, f)
    rc, out, err = cli("graph", "diff", GRAPH, graph2, "--json", url=False)
    c.eq("graph diff", (rc, json.loads(out)["after_node_count"] == json.loads(out)["before_node_count"] - 1),
         (1, True))
    rc, out, err = cli("graph", "diff", GRAPH, GRAPH, url=False)
    c.eq("graph diff of a graph with itself", (rc, "0 changed" in out), (0, True))

    # Timelines and the Slurm ping (the simulated backend asks no login node).
    src = srv.request("GET", V2 + "/sources?project_module=wallaby_hires")[1][0]
    rc, out, err = cli("timeline", "source", src["uuid"])
    c.eq("a source's timeline, oldest first", (rc, out.splitlines()[1].split()[1] if rc == 0 else err),
         (0, "source.registered"))
    create_profile(srv, "cli-sim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                           "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    rc, out, err = cli("execution", "cancel", ex["uuid"], "--reason", "cli says stop")
    c.eq("execution cancel", (rc, json.loads(out).get("cancel_reason") if rc == 0 else err), (0, "cli says stop"))
    rc, out, err = cli("timeline", "execution", ex["uuid"])
    c.true("a run's timeline shows each event with its state change",
           rc == 0 and "ExecutionCreated" in out and "ExecutionCancelled" in out and "-> cancelled" in out)
    rc, out, err = cli("execution", "retry", ex["uuid"])
    c.eq("a retry without a reason: the API names the field", (rc, "field reason" in err), (1, True))
    rc, out, err = cli("execution", "retry", ex["uuid"], "--reason", "again")
    c.eq("retry of a cancelled run is the API's refusal", (rc, "409" in err), (1, True))
    rc, out, err = cli("timeline", "execution", str(uuid.uuid4()))
    c.eq("an unknown run's timeline", (rc, "404" in err), (1, True))
    rc, out, err = cli("timeline", "project", "wallaby_hires", "--json")
    c.true("a project's timeline", rc == 0 and len(json.loads(out)["events"]) >= 2)
    create_profile(srv, "cli-slurm", {"kind": "slurm_remote", "login_node": "127.0.0.1", "account": "acct",
                                      "home_dir": "/home/x", "log_dir": "/home/x/logs", "dlg_root": "/home/x/dlg"},
                   is_default=False)
    rc, out, err = cli("slurm", "ping", "--profile", "cli-slurm")
    c.eq("slurm ping on the simulated backend", (rc, "simulated" in out), (0, True))
    rc, out, err = cli("slurm", "ping", "--profile", "nope")
    c.eq("slurm ping of an unknown profile", (rc, "404" in err), (1, True))

    # Credential slots, on this machine: written owner-only, checked, never printed.
    slots = os.path.join(work, "slots")
    key = os.path.join(work, "id")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", key], check=True)
    with open(os.path.join(work, "pw"), "w") as f:
        f.write("wrong\n")
    rc, out, err = cli("slurm", "credentials", "import", "lab", "--dir", slots, "--private-key", key,
                       "--passphrase-file", os.path.join(work, "pw"), url=False)
    c.eq("a key that does not open is not imported", (rc, "does not open" in err, os.path.exists(os.path.join(slots, "lab"))), (2, True, False))
    with open(os.path.join(work, "pw"), "w") as f:
        f.write("pass phrase\n")
    rc, out, err = cli("slurm", "credentials", "import", "lab", "--dir", slots, "--private-key", key,
                       "--passphrase-file", os.path.join(work, "pw"), "--known-hosts", key + ".pub", url=False)
    modes = {n: oct(stat.S_IMODE(os.stat(os.path.join(slots, "lab", n)).st_mode))
             for n in os.listdir(os.path.join(slots, "lab"))}
    c.eq("imported owner-only", (rc, modes["private_key"], modes["passphrase"]), (0, oct(0o600), oct(0o600)))
    rc, out, err = cli("slurm", "credentials", "check", "lab", "--dir", slots, url=False)
    c.eq("the imported slot checks", rc, 0)
    with open(key) as f:
        c.true("no key material printed", f.read().splitlines()[1][:30] not in out + err)
    os.chmod(os.path.join(slots, "lab", "private_key"), 0o644)
    rc, out, err = cli("slurm", "credentials", "check", "lab", "--dir", slots, url=False)
    c.eq("a key others can read fails the check", (rc, "chmod 600" in out), (1, True))
    rc, out, err = cli("slurm", "credentials", "init", "lab", "--dir", slots, url=False)
    c.eq("an existing slot is kept without --force", rc, 2)
    rc, out, err = cli("slurm", "credentials", "remove", "lab", "--dir", slots, url=False)
    c.eq("removed", (rc, os.path.exists(os.path.join(slots, "lab"))), (0, False))

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
