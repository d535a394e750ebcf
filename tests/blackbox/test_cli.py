"""Black-box tests of the CLI: migrate, projections rebuild, replay --verify, events tail, and
state surviving a SIGKILL of the server process."""
import json
import os
import signal
import subprocess

from harness import Checks, Server, create_profile, fresh_database, ready_sources, upload_config, wallaby_config

BIN = os.environ["BEAMPIPE_BIN"]
c = Checks()


def cli(*args, db=None):
    env = dict(os.environ)
    if db:
        env["DATABASE_URL"] = db
    else:
        env.pop("DATABASE_URL", None)
    p = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


rc, out, _ = cli("--version")
c.eq("version", (rc, out.startswith("beampipe ")), (0, True))
for sub in (["start"], ["serve"], ["migrate"], ["projections", "rebuild"], ["replay"], ["events", "tail"]):
    rc, out, _ = cli(*sub, "--help")
    c.eq(f"{' '.join(sub)} --help", (rc, "Usage: beampipe" in out), (0, True))
rc, _, err = cli("bogus")
c.eq("unknown command", (rc, "unknown command" in err), (2, True))
rc, _, err = cli("migrate")
c.eq("migrate without DATABASE_URL", (rc, "DATABASE_URL" in err), (2, True))
# The input rule holds for arguments too: control characters and invalid UTF-8 are refused.
for what, arg in (("a control character", "bell\x07"), ("invalid UTF-8", "\udcff")):
    p = subprocess.run([BIN, "admin", "create-user", "--username", arg, "--email", "a@b.c"],
                       capture_output=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"})
    c.eq(f"an argument with {what} is refused", (p.returncode, b"argument" in p.stderr), (2, True))

# Settings: read once from the environment; every bad value is named and nothing starts.
def cli_env(extra, *args):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(extra)
    p = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


rc, _, err = cli_env({"BEAMPIPE_API_THREADS": "12abc", "BEAMPIPE_ENV": "prod"}, "start")
c.eq("bad settings stop the start, each named",
     (rc, "BEAMPIPE_API_THREADS must be an integer" in err, "BEAMPIPE_ENV must be one of" in err),
     (2, True, True))
secret_env = {"BEAMPIPE_JWT_SECRET": "cli-secret-0123456789abcdef0123456789",
              "CASDA_PASSWORD": "cli-casda-secret", "BEAMPIPE_WORKER_MAX_ATTEMPTS": "5",
              "BEAMPIPE_CASDA_TAP_URL": "https://u:cli-url-secret@tap.example/tap?token=cli-token"}
rc, out, err = cli_env(dict(secret_env, BEAMPIPE_API_THREDS="4"), "settings", "--json")
rows = {r["name"]: r for r in json.loads(out)} if rc == 0 else {}
c.eq("settings: effective values and their origin",
     (rc, rows.get("BEAMPIPE_WORKER_MAX_ATTEMPTS"), rows.get("BEAMPIPE_API_THREADS", {}).get("origin")),
     (0, {"name": "BEAMPIPE_WORKER_MAX_ATTEMPTS", "value": "5", "origin": "environment"}, "default"))
c.eq("settings: a secret shows only as set", rows.get("BEAMPIPE_JWT_SECRET", {}).get("value"), "(set)")
c.true("settings: no secret in the output", not any(
    word in out + err for word in ("cli-secret", "cli-casda-secret", "cli-url-secret", "cli-token")))
c.true("a misspelt setting is named with the one it resembles",
       "BEAMPIPE_API_THREDS is not a beampipe setting and is ignored: did you mean "
       "BEAMPIPE_API_THREADS?" in err)
rc, out, _ = cli("settings", "--markdown")
readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
c.true("settings --markdown is the README's Environment table", rc == 0 and out in readme)
rc, out, _ = cli("--help")
c.true("--help lists the settings", "BEAMPIPE_WORKER_MAX_ATTEMPTS" in out and "CASDA_LOGIN_URL" in out)

# project validate: exit 0 valid, 1 invalid (diagnostics with paths), 2 unreadable
ref = os.path.join(os.path.dirname(__file__), "..", "..", "config", "reference")
for name in ("wallaby_hires.v1.yaml", "minimal_survey.v1.yaml"):
    rc, out, _ = cli("project", "validate", "-f", os.path.join(ref, name))
    c.eq(f"validate {name}", (rc, out.startswith("valid")), (0, True))
bad = "/tmp/beampipe-cli-bad.yaml"
with open(bad, "w") as f:
    f.write("apiVersion: beampipe.dev/v1\nkind: ProjectConfig\nmetadata: {id: x}\nadapters: {required: [casda]}\ntypo: 1\n")
rc, out, _ = cli("project", "validate", "-f", bad)
c.eq("invalid config exit 1", rc, 1)
c.true("diagnostic names the path", "error: typo:" in out)
rc, out, _ = cli("project", "validate", "-f", bad, "--json")
report = json.loads(out)
c.eq("json report", (rc, report["valid"], report["errors"][0]["path"]), (1, False, "typo"))
rc, _, _ = cli("project", "validate", "-f", "/nonexistent/x.yaml")
c.eq("unreadable exit 2", rc, 2)

db = fresh_database()
rc, out, _ = cli("migrate", db=db)
c.eq("migrate applies", (rc, "applied 0001_event_store.sql" in out), (0, True))
rc, out, _ = cli("migrate", db=db)
c.eq("migrate again is a no-op", (rc, "nothing to do" in out), (0, True))

srv = Server(conninfo=db)
srv.wait_ready()
V2 = "/api/v2"
ids = []
for i in range(30):
    st, row, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "cli", "source_identifier": f"S{i}", "enabled": i % 2 == 0})
    ids.append(row["uuid"])
upload_config(srv, wallaby_config())
ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                        "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
c.eq("execution admitted", st, 201)
srv.request("PATCH", f"{V2}/executions/{ex['uuid']}", {"status": "cancelled"})
srv.request("DELETE", f"{V2}/sources/{ids[3]}")
st, before, _, _ = srv.request("GET", V2 + "/sources?project_module=cli&limit=500")

# SIGKILL: nothing is lost, the restarted process serves the same state and accepts writes.
srv.stop(signal.SIGKILL)
srv = Server(conninfo=db)
srv.wait_ready()
st, after, _, _ = srv.request("GET", V2 + "/sources?project_module=cli&limit=500")
c.eq("state survives SIGKILL", after, before)
st, row, _, _ = srv.request("PATCH", f"{V2}/sources/{ids[0]}", {"enabled": False})
c.eq("recovered aggregate decides on recovered state", (st, row["enabled"]), (200, False))
st, body, _, _ = srv.request("PATCH", f"{V2}/sources/{ids[3]}", {"enabled": True})
c.eq("deleted source stays deleted", st, 404)
st, body, _, _ = srv.request("PATCH", f"{V2}/executions/{ex['uuid']}", {"status": "cancelled"})
c.eq("cancelled execution stays cancelled", st, 409)
srv.stop()

rc, out, _ = cli("replay", "--verify", db=db)
c.eq("replay --verify passes", (rc, "read models verified" in out), (0, True))
rc, out, _ = cli("projections", "rebuild", db=db)
c.eq("rebuild", (rc, "rebuild complete" in out), (0, True))
rc, out, _ = cli("projections", "rebuild", "--name", "nope", db=db)
c.eq("rebuild unknown projection", rc, 2)
rc, out, _ = cli("replay", "--verify", db=db)
c.eq("verify after rebuild", rc, 0)

# Tamper with a read model: verify fails and names the table.
subprocess.run(["/usr/lib/postgresql/15/bin/psql", db, "-qc",
                "UPDATE batch_execution_record SET status = 'completed'"], check=True, capture_output=True)
rc, out, _ = cli("replay", "--verify", db=db)
c.eq("verify detects tampering", rc, 1)
c.true("verify names the table", "DIFFERS batch_execution_record" in out)
rc, out, _ = cli("projections", "rebuild", "--name", "batch_execution_record", db=db)
rc, out, _ = cli("replay", "--verify", db=db)
c.eq("rebuild of one projection repairs it", rc, 0)

rc, out, _ = cli("events", "tail", "--limit", "3", db=db)
lines = [json.loads(line) for line in out.splitlines()]
# The harness signs its first superuser in (UserCreated, SessionStarted) before the sources.
c.eq("events tail", (rc, len(lines), [e["type"] for e in lines]),
     (0, 3, ["UserCreated", "SessionStarted", "SourceRegistered"]))
rc, out, _ = cli("events", "tail", "--after", str(lines[2]["position"]), db=db)
c.eq("events tail --after continues", json.loads(out.splitlines()[0])["position"] > lines[2]["position"], True)
rc, out, _ = cli("events", "tail", "--after", "0", "--limit", "1", db=db)
c.eq("events tail --after 0 starts at the beginning", (rc, json.loads(out.splitlines()[0])["type"]),
     (0, "UserCreated"))
c.finish()
