"""Run diffs and the auditors' CLI (issue #22): GET /executions/{a}/diff/{b} names what differs
between two runs (config revision at YAML paths, sources and signatures, manifest at JSON
Pointer paths, patched graph nodes); a run compared with itself differs in nothing.
`beampipe audit diff` prints it (exit 1 when they differ), `beampipe audit execution --at`
prints a run's timeline up to a point and the run as it was then."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REFERENCE, V2, Checks, Server, create_profile, fresh_database, ready_sources,  # noqa: E402
                     upload_config, wait_execution, wallaby_config)

GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_EXECUTION_SCAN_MS": "100"}

c = Checks()
srv = Server(conninfo=fresh_database(), extra_env=ENV)
srv.wait_ready()
home = tempfile.mkdtemp(prefix="bp-audit-home-")


def cli(*argv, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
    env["XDG_CONFIG_HOME"] = home
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], *argv, "--url", f"http://127.0.0.1:{srv.port}"], input=stdin,
                       capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


def dry_run(ident):
    st, row, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": ident}]})
    assert st == 201, (st, row)
    srv.request("POST", f"{V2}/executions/{row['uuid']}/execute", {"do_stage": False, "do_submit": False})
    wait_execution(srv, row["uuid"], lambda r: r["patched_graph_sha256"] is not None)
    return row["uuid"]


try:
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    config = wallaby_config(GRAPH)
    upload_config(srv, config)
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    a = dry_run("HIPASSJ1313-15")
    upload_config(srv, config.replace("description: WALLABY HiRes CASDA pipeline reference config",
                                      "description: the second revision"))
    b = dry_run("HIPASSJ1318-21")

    st, d, _, _ = srv.request("GET", f"{V2}/executions/{a}/diff/{b}")
    c.eq("diff answered", (st, d.get("a"), d.get("b"), d.get("same")), (200, a, b, False))
    cfg = d["config"]
    c.eq("the config revisions differ", (cfg["same"], cfg["a"]["project_config_version"] + 1),
         (False, cfg["b"]["project_config_version"]))
    c.eq("the config diff names the YAML path and both values",
         [(x["path"], x["change"], x["before"], x["after"]) for x in cfg["diff"]["changes"]],
         [("metadata.description", "changed", "WALLABY HiRes CASDA pipeline reference config",
           "the second revision")])
    c.eq("the sources: one in, one out", (d["sources"]["added"], d["sources"]["removed"]),
         (["HIPASSJ1318-21"], ["HIPASSJ1313-15"]))
    manifest = d["manifest"]["diff"]["changes"]
    c.true("the manifests differ at JSON Pointer paths",
           not d["manifest"]["same"] and manifest and all(x["path"].startswith("/") for x in manifest))
    c.true("no run record in the manifest diff", all("beampipe_run_record" not in x["path"] for x in manifest))
    c.true("the patched graphs are compared node by node",
           isinstance(d["graph"]["summary"], dict) and "changed_nodes" in d["graph"]["summary"])
    c.true("the profile is the same", d["profile"]["same"] and d["profile"]["diff"]["total"] == 0)

    st, same, _, _ = srv.request("GET", f"{V2}/executions/{a}/diff/{a}")
    c.eq("a run against itself: the same in every part",
         (st, same["same"], same["config"]["diff"]["total"], same["manifest"]["diff"]["total"],
          same["graph"]["summary"]["changed_node_count"]), (200, True, 0, 0, 0))
    st, body, _, _ = srv.request("GET", f"{V2}/executions/{a}/diff/00000000-0000-7000-8000-000000000000")
    c.eq("an unknown other run: 404 naming it", (st, body.get("field")), (404, "other"))
    st, body, _, _ = srv.request("GET", f"{V2}/executions/{a}/diff/not-a-uuid")
    c.eq("a bad id: 400 naming it", (st, body.get("field")), (400, "other"))

    # The auditors' CLI.
    rc, out, err = cli("login", "--username", srv.env["BEAMPIPE_ADMIN_USERNAME"],
                       stdin=srv.env["BEAMPIPE_ADMIN_PASSWORD"] + "\n")
    c.eq("signed in", rc, 0)
    rc, out, err = cli("audit", "diff", a, b)
    c.eq("audit diff: exit 1 when they differ, the path printed",
         (rc, "metadata.description" in out, "added HIPASSJ1318-21" in out), (1, True, True))
    rc, out, err = cli("audit", "diff", a, a, "--json")
    c.eq("audit diff of a run with itself: exit 0", (rc, json.loads(out)["same"] if out else None), (0, True))
    hist = srv.request("GET", f"{V2}/executions/{a}/history")[1]["steps"]
    mid = hist[len(hist) // 2]
    rc, out, err = cli("audit", "execution", a, "--at", str(mid["position"]), "--json")
    got = json.loads(out) if rc == 0 else {}
    then = srv.request("GET", f"{V2}/executions/{a}?as_of_position={mid['position']}")[1]
    c.eq("audit execution --at POSITION: the steps up to it and the run as it was",
         ([s["position"] for s in got.get("steps", [])], got.get("as_of")),
         ([s["position"] for s in hist if s["position"] <= mid["position"]], then))
    rc, out, err = cli("audit", "execution", a, "--at", mid["recorded_at"])
    c.true("audit execution --at TIME prints the state then",
           rc == 0 and f"as of {mid['recorded_at']}: " in out)
    rc, out, err = cli("audit", "execution", a, "--at", "yesterday")
    c.eq("a bad --at is a usage error", rc, 2)
finally:
    srv.stop()
c.finish()
