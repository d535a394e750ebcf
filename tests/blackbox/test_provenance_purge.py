"""Provenance retention (issue #21): `beampipe purge-provenance` (POST /provenance/purge) drops
provenance rows older than a time from the read model, of one project or all, keeps every
event, records the purge, and a rebuild of the read models agrees (replay --verify)."""
import json
import os
import subprocess
import tempfile
import time

from harness import Checks, Server, create_user

V2 = "/api/v2"
PSQL = "/usr/lib/postgresql/15/bin/psql"
c = Checks()
srv = Server()
home = tempfile.mkdtemp(prefix="bp-purge-home-")


def cli(*argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    env["XDG_CONFIG_HOME"] = home
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], *argv, "--url", f"http://127.0.0.1:{srv.port}"],
                       capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


def sql(q):
    return subprocess.run([PSQL, srv.conninfo, "-qAt", "-c", q], check=True, capture_output=True,
                          text=True).stdout.strip()


def rows(module):
    return srv.read_after(f"{V2}/projects/{module}/events?limit=500")[1]


def register(module, ident):
    st, _, _, _ = srv.request("POST", V2 + "/sources", {"project_module": module, "source_identifier": ident})
    assert st == 200, st


try:
    srv.wait_ready()
    for i in range(3):
        register("survey_a", f"A{i}")
        register("survey_b", f"B{i}")
    before_b = len(rows("survey_b"))
    cut = sql("SELECT to_json(clock_timestamp())#>>'{}'")
    time.sleep(0.01)  # the next event is recorded strictly after the cut (microsecond clock)
    register("survey_a", "LATE")
    kept = "SELECT count(*) FROM events WHERE event_type = 'SourceRegistered'"
    registered = int(sql(kept))

    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    env["XDG_CONFIG_HOME"] = home
    subprocess.run([os.environ["BEAMPIPE_BIN"], "login", "--url", f"http://127.0.0.1:{srv.port}", "--username",
                    srv.env["BEAMPIPE_ADMIN_USERNAME"]], input=srv.env["BEAMPIPE_ADMIN_PASSWORD"] + "\n",
                   capture_output=True, text=True, env=env, timeout=60, check=True)
    rc, out, err = cli("purge-provenance", "--before", cut, "--project", "survey_a", "--reason", "test", "--json")
    answer = json.loads(out) if rc == 0 else {}
    c.eq("purged", (rc, answer.get("project_module"), answer.get("remaining_rows")), (0, "survey_a", 2))
    left = rows("survey_a")
    c.eq("only what came after the cut is left, and the purge itself",
         sorted((r["event_type"], r["source_identifier"]) for r in left),
         [("provenance.purged", None), ("source.registered", "LATE")])
    c.eq("the other project is untouched", len(rows("survey_b")), before_b)
    c.eq("no event was deleted", (int(sql(kept)), registered), (7, 7))
    c.eq("the purge is on record", sql("SELECT data->>'reason' FROM events WHERE event_type = 'ProvenancePurged'"),
         "test")

    st, err_body, _, _ = srv.request("POST", V2 + "/provenance/purge", {"before": "2100-01-01T00:00:00Z"})
    c.eq("a purge of the future is refused", (st, err_body.get("field")), (400, "before"))
    st, err_body, _, _ = srv.request("POST", V2 + "/provenance/purge", {"before": "last week"})
    c.eq("a time that is not RFC 3339", (st, err_body.get("field")), (400, "before"))
    st, err_body, _, _ = srv.request("POST", V2 + "/provenance/purge", {"before": cut, "scope": "x"})
    c.eq("unknown fields", (st, err_body.get("field")), (400, "scope"))
    create_user(srv.conninfo, "plainpurge", "plain-purge-password")
    tok = srv.login("plainpurge", "plain-purge-password")["access_token"]
    st, _, _, _ = srv.request("POST", V2 + "/provenance/purge", {"before": cut},
                              headers={"Authorization": "Bearer " + tok})
    c.eq("only a superuser purges", st, 403)

    rc, out, err = cli("purge-provenance", "--older-than-days", "0")
    c.eq("a purge of every project, up to now", (rc, "every project" in out), (0, True))
    c.eq("every project's rows are gone but the purge's own", len(rows("survey_b")), 0)

    verify = subprocess.run([os.environ["BEAMPIPE_BIN"], "replay", "--verify"],
                            env=dict(os.environ, DATABASE_URL=srv.conninfo), capture_output=True, text=True,
                            timeout=300)
    c.eq("a rebuild agrees with the purged read model", verify.returncode, 0)
    if verify.returncode:
        print(verify.stdout[-2000:], verify.stderr[-2000:])
finally:
    srv.stop()
c.finish()
