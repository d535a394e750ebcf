"""The operator surface of issue #21, part by part.

The Slurm SSH credential slots: which files each slot holds and whether its secrets are
owner-only, never their contents; slots are directories with a plain name (no dot files, no
symlinks followed). GET /overview: the counts an operator checks first, as the read models hold
them. GET /diagnostics and `beampipe doctor`: one set of checks, passes listed, a down DIM or
Translator Manager named as the failing check, exit 1 from the CLI."""
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REFERENCE, V2, Checks, Server, create_profile, create_user, fresh_database,  # noqa: E402
                     free_port, ready_sources, upload_config, wait_execution, wallaby_config)

GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
PSQL = "/usr/lib/postgresql/15/bin/psql"
SIM = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_SIMULATED_RUN_MS": "300", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "100",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}

MARKER = "SECRET-KEY-MATERIAL-7f3a"
c = Checks()
tmp = tempfile.mkdtemp(prefix="bp-creds-")
creds = os.path.join(tmp, "creds")


def put(path, text, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


put(os.path.join(creds, "setonix", "private_key"), MARKER + "\n", 0o600)
put(os.path.join(creds, "setonix", "private_key.pub"), "ssh-ed25519 AAAA " + MARKER + "\n", 0o644)
put(os.path.join(creds, "setonix", "known_hosts"), "[h]:22 ssh-ed25519 AAAA\n", 0o644)
put(os.path.join(creds, "loose", "private_key"), MARKER + "\n", 0o644)
put(os.path.join(creds, "loose", "passphrase"), MARKER + "\n", 0o600)
put(os.path.join(creds, ".hidden", "private_key"), MARKER, 0o600)
put(os.path.join(creds, "not-a-slot"), MARKER, 0o600)
os.symlink(os.path.join(creds, "setonix"), os.path.join(creds, "linked"))

db = fresh_database()
srv = Server(conninfo=db, extra_env={"BEAMPIPE_SSH_CREDENTIALS_DIR": creds})
try:
    srv.wait_ready()
    st, body, _, text = srv.request("GET", V2 + "/slurm/credentials")
    c.eq("listed", st, 200)
    c.eq("configured", body["configured"], True)
    c.eq("slots are the plain-named directories", [s["name"] for s in body["slots"]], ["loose", "setonix"])
    by = {s["name"]: s for s in body["slots"]}
    c.eq("setonix's files", {k: by["setonix"][k] for k in ("private_key", "public_key", "passphrase", "known_hosts")},
         {"private_key": True, "public_key": True, "passphrase": False, "known_hosts": True})
    c.eq("an owner-only key is safe", by["setonix"]["safe_permissions"], True)
    c.eq("a key others can read is not", by["loose"]["safe_permissions"], False)
    c.true("no file content in the answer", MARKER not in text)
    st, one, _, text = srv.request("GET", V2 + "/slurm/credentials/setonix")
    c.eq("one slot", (st, one["name"], one["known_hosts"]), (200, "setonix", True))
    c.true("no file content in that answer", MARKER not in text)
    for name, want in [("missing", 404), ("linked", 404), (".hidden", 400), ("%2e%2e", 400), ("a%20b", 400)]:
        st, err, _, _ = srv.request("GET", V2 + "/slurm/credentials/" + name)
        c.eq(f"slot {name}", (st, err.get("field") if isinstance(err, dict) else None), (want, "slot"))

    c.eq("a plain user", create_user(db, "viewer", "viewer-password-1"), 0)
    token = srv.login("viewer", "viewer-password-1")["access_token"]
    st, _, _, _ = srv.request("GET", V2 + "/slurm/credentials", headers={"Authorization": "Bearer " + token})
    c.eq("a plain user may look too (names and presence only)", st, 200)
    srv.stop()

    srv = Server(conninfo=db)
    srv.wait_ready()
    st, body, _, _ = srv.request("GET", V2 + "/slurm/credentials")
    c.eq("unconfigured: nothing", (st, body["configured"], body["slots"]), (200, False, []))
    st, _, _, _ = srv.request("GET", V2 + "/slurm/credentials/setonix")
    c.eq("unconfigured: no slot", st, 404)
    srv.stop()

    # --- GET /overview: counts from the read models
    db = fresh_database()
    srv = Server(conninfo=db, extra_env=SIM)
    srv.wait_ready()
    st, o, _, _ = srv.request("GET", V2 + "/overview")
    c.eq("an empty overview", (st, o["registered_sources"], o["running_executions"], o["executions_by_status"],
                               o["recent_failures"]), (200, 0, 0, {}, []))
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    upload_config(srv, wallaby_config(GRAPH))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "OFF_1",
                                         "enabled": False})
    st, row, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    eid = row["uuid"]
    srv.request("POST", f"{V2}/executions/{eid}/execute", {"do_stage": False, "do_submit": True})
    wait_execution(srv, eid, lambda r: r["status"] == "completed" and r["sources_finalized"])
    # --- POST /graphs/prepare: what a run would submit, built as the run built it, nothing stored
    head = srv.request("GET", V2 + "/events?limit=1000")[1]["events"][-1]["position"]
    st, prep, _, _ = srv.request("POST", V2 + "/graphs/prepare", {"project_module": "wallaby_hires",
                                                                   "source_identifiers": ["HIPASSJ1313-15"]})
    _, run, _, _ = srv.request("GET", f"{V2}/executions/{eid}")
    c.eq("prepared", (st, prep["project_module"], prep["source_identifiers"], prep["project_config_version"]),
         (200, "wallaby_hires", ["HIPASSJ1313-15"], 1))
    c.eq("the manifest is the one the run built", prep["manifest_sha256"], run["manifest_sha256"])
    c.eq("the source graph is the project's file",
         prep["source_graph_sha256"], hashlib.sha256(open(GRAPH, "rb").read()).hexdigest())
    summary = prep["patch_summary"]
    c.eq("node counts", (summary["before_node_count"], summary["after_node_count"]),
         (len(prep["source_graph"]["nodeDataArray"]), len(prep["patched_graph"]["nodeDataArray"])))
    # Checked against the two graphs it returns: each named field differs, every other node is equal.
    def by_id(g):
        return {n.get("id", n.get("name")): n for n in g["nodeDataArray"]}

    def field(n, name):
        return next((f for f in n.get("fields", []) if f.get("name") == name), None)

    src, dst = by_id(prep["source_graph"]), by_id(prep["patched_graph"])
    changed = {n["node"]: n for n in summary["changed_nodes"]}
    c.true("the graph patches modified nodes", changed and all(n["change"] == "modified" and n["fields"]
                                                             for n in changed.values()))
    c.true("each field it names differs", all(field(src[k], f) != field(dst[k], f)
                                              for k, n in changed.items() for f in n["fields"]))
    c.true("every node it does not name is unchanged", all(src[k] == dst[k] for k in src if k not in changed))
    c.eq("the manifest's graph configuration is new", summary["graph_configuration_changed"], True)
    c.eq("nothing recorded", srv.request("GET", V2 + "/events?limit=1000")[1]["events"][-1]["position"], head)
    for body, field in [({"project_module": "wallaby_hires", "source_identifiers": ["NOPE"]}, "source_identifiers[0]"),
                        ({"project_module": "nobody", "source_identifiers": ["X"]}, "project_module"),
                        ({"project_module": "wallaby_hires", "source_identifiers": []}, "source_identifiers"),
                        ({"project_module": "wallaby_hires", "source_identifiers": ["A", "A"]}, "source_identifiers[1]"),
                        ({"project_module": "wallaby_hires", "source_identifiers": ["A"], "x": 1}, "x")]:
        st, err, _, _ = srv.request("POST", V2 + "/graphs/prepare", body)
        c.eq(f"refused: {field}", (st, err.get("field")), (400, field))

    st, o, _, _ = srv.request("GET", V2 + "/overview")
    c.eq("sources", (o["registered_sources"], o["sources_by_state"]), (2, {"discovered": 2, "disabled": 1}))
    c.eq("executions", (o["executions_by_status"], o["running_executions"], o["failed_executions"]),
         ({"completed": 1}, 0, 0))
    # The harness runs no scheduler (BEAMPIPE_SCHEDULER_ENABLED=false): no node holds its lease.
    c.eq("workers and the scheduler", (o["active_workers"], o["stale_workers"], o["scheduler_leader"]),
         (1, 0, None))
    c.eq("simulated backends are said so", (o["casda"], o["daliuge"], o["scheduler"]),
         ("simulated", "simulated", "simulated"))
    c.true("projections", o["projections"]["alive"] and o["projections"]["dead_letters_total"] == 0)
    c.eq("a plain user reads it", (create_user(db, "ops", "ops-password-1"), srv.request(
        "GET", V2 + "/overview", headers={"Authorization": "Bearer " + srv.login("ops", "ops-password-1")["access_token"]})[0]),
         (0, 200))
    # A node that stopped beating without a clean stop is stale.
    subprocess.run([PSQL, db, "-qc", "INSERT INTO node_heartbeats VALUES ('gone-node', 'h', 1, 'api,workers', 'x', "
                    "now() - interval '2 hours', now() - interval '1 hour', NULL)"], check=True)
    st, o, _, _ = srv.request("GET", V2 + "/overview")
    c.eq("a stale node is counted", (o["active_workers"], o["stale_workers"]), (1, 1))
    st, d, _, _ = srv.request("GET", V2 + "/diagnostics")
    by = {x["id"]: x for x in d["checks"]}
    c.eq("diagnostics: all pass but the stale node and the missing scheduler",
         (st, d["ok"], sorted(x["id"] for x in d["checks"] if x["status"] != "pass")),
         (200, True, ["scheduler.no_leader", "workers.stale"]))
    c.eq("no global default: the one default profile is checked", (d["profile"], by["profile.valid"]["subject"]),
         ("sim-dim", "sim-dim"))
    c.eq("checks of the database and the project", [by[k]["status"] for k in (
        "database.connected", "database.migrations", "project.valid", "projections.dead_letters")], ["pass"] * 4)
    c.eq("the project checked is named", by["project.valid"]["subject"], "wallaby_hires")
    st, d, _, _ = srv.request("GET", V2 + "/diagnostics?profile=sim-dim")
    by = {x["id"]: x for x in d["checks"]}
    c.eq("a named profile", (d["profile"], by["profile.valid"]["subject"], by["backends.simulated"]["status"]),
         ("sim-dim", "sim-dim", "pass"))
    st, d, _, _ = srv.request("GET", V2 + "/diagnostics?profile=nope")
    c.eq("an unknown profile fails its check", (d["ok"], [x["id"] for x in d["checks"] if x["status"] == "fail"]),
         (False, ["profile.not_found"]))
    st, err, _, _ = srv.request("GET", V2 + "/diagnostics?profile=")
    c.eq("an empty profile name", (st, err.get("field")), (400, "profile"))
    srv.stop()

    # --- a DIM and Translator Manager that are down, with real backends; a run that fails there
    down_tm, down_dim = free_port(), free_port()
    real = dict(SIM, BEAMPIPE_USE_REAL_BACKENDS="true", BEAMPIPE_WORKER_MAX_ATTEMPTS="1")
    srv = Server(conninfo=db, extra_env=real)
    srv.wait_ready()
    create_profile(srv, "down-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": down_dim},
                   is_default=False, translation={"algo": "metis", "num_par": 1, "num_islands": 0,
                                                  "tm_url": f"http://127.0.0.1:{down_tm}"})
    st, d, _, _ = srv.request("GET", V2 + "/diagnostics?profile=down-dim")
    failing = {x["id"]: x for x in d["checks"] if x["status"] == "fail"}
    c.eq("the down DIM and TM are the failing checks", (d["ok"], sorted(failing)),
         (False, ["daliuge.manager_unreachable", "daliuge.translator_unreachable"]))
    c.true("each names its target and profile", all(x["subject"] == "down-dim" and "127.0.0.1" in x["message"]
                                                   and x["hint"] for x in failing.values()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    env.update(real)
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "doctor", "--profile", "down-dim", "--database-url", db],
                       env=env, capture_output=True, text=True, timeout=120)
    fails = [x.split()[1] for x in r.stdout.splitlines() if x.startswith("FAIL")]
    c.eq("beampipe doctor exits 1 and names them", (r.returncode, sorted(fails)),
         (1, ["daliuge.manager_unreachable", "daliuge.translator_unreachable"]))
    c.true("with what to do", r.stdout.count("fix: ") >= 2 and "attention required" in r.stdout)
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "doctor", "--json", "--profile", "down-dim",
                        "--database-url", db], env=env, capture_output=True, text=True, timeout=120)
    import json as _json
    doc = _json.loads(r.stdout)
    c.eq("--json is the API's shape", (r.returncode, doc["ok"], doc["profile"], sorted(doc["summary"])),
         (1, False, "down-dim", ["fail", "pass", "warn"]))
    st, row, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda", "deployment_profile_name": "down-dim",
        "sources": [{"source_identifier": "HIPASSJ1318-21"}]})
    c.eq("a run on the down profile", st, 201)
    srv.request("POST", f"{V2}/executions/{row['uuid']}/execute", {"do_stage": False, "do_submit": True})
    end = wait_execution(srv, row["uuid"], lambda r: r["status"] in ("failed", "completed", "cancelled"), timeout=120)
    st, o, _, _ = srv.request("GET", V2 + "/overview")
    c.eq("it fails", end["status"], "failed")
    c.eq("the overview lists it first among failures",
         ([f["execution_id"] for f in o["recent_failures"]][:1], o["failed_executions"],
          o["executions_by_status"].get("failed")), ([row["uuid"]], 1, 1))
    c.true("with its error", bool(o["recent_failures"][0]["last_error"]))
    c.eq("real backends are profile-managed", (o["daliuge"], o["scheduler"]), ("profile_managed", "profile_managed"))
finally:
    srv.stop()
c.finish()
