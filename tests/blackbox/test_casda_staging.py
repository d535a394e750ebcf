"""Staging through CASDA in the execute step (do_stage=true, real backends) against the CASDA
stand-in (tests/standins/casda_standin.py: OPAL Basic login, DataLink, SODA async jobs): the
manifest carries the staged URLs, a refused login fails the run before anything is submitted,
and a permission fault on an SBID's data skips it (no usable datasets left here)."""
import json
import os
import subprocess
import tempfile
import time
import urllib.request

from harness import (STANDINS, Checks, Server, create_profile, fresh_database, ready_sources, test_graph, upload_config,
                     wait_execution, wallaby_config)

V2 = "/api/v2"
c = Checks()
casda = subprocess.Popen(["/usr/bin/python3", os.path.join(STANDINS, "casda_standin.py"), "--exit-on-stdin-eof"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
port = json.loads(casda.stdout.readline())["port"]
base = f"http://127.0.0.1:{port}"


def control(path, body):
    import urllib.request
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "true", "BEAMPIPE_EXECUTION_SCAN_MS": "100",
       "BEAMPIPE_SIMULATED_DATALINK_BASE": f"{base}/casda_vo_proxy/vo/",
       "CASDA_LOGIN_URL": f"{base}/casda_vo_proxy/vo/tap/availability", "CASDA_USERNAME": "casda-user",
       "CASDA_PASSWORD": "s3cret pass", "BEAMPIPE_CASDA_POLL_INTERVAL_MS": "50"}
tmp = tempfile.mkdtemp(prefix="beampipe-casda-")
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def psql_epoch(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def dry_run():
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    assert st == 201, ex
    srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute", {"do_stage": True, "do_submit": False})
    return wait_execution(srv, ex["uuid"], lambda r: r["status"] in ("not_submitted", "failed"), timeout=120)


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    source_ids = ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 9})

    row = dry_run()
    c.eq("staged dry run", (row["status"], row["last_error"]), ("not_submitted", None))
    st, manifest, _, _ = srv.request("GET", f"{V2}/executions/{row['uuid']}/artifacts/manifest")
    text = json.dumps(manifest)
    c.true("manifest carries the staged URLs", f"{base}/download/web/" in text or f"{base}/pawsey-bucket/" in text)
    c.true("the archive's DataLink URLs were staged, not passed through", "datalink/links?ID=visibility" not in
           json.dumps([d.get("staged_url") for s in manifest["sources"] for b in s.get("sbids", [])
                       for d in b.get("datasets", [])]))
    with urllib.request.urlopen(f"{base}/__standin/requests", timeout=10) as r:
        recorded = json.loads(r.read())["requests"]
    datalink = [r for r in recorded if "/datalink/links" in r["path"]]
    c.true("every DataLink GET carried Basic auth", bool(datalink) and
           all(r.get("auth_user") == "casda-user" for r in datalink))
    soda = [r for r in recorded if r["method"] == "POST" and r["path"].endswith("/data/async")]
    c.eq("one SODA job per SBID batch plus the evaluation batch", len(soda), 2)

    control("/__standin/credentials", {"username": "casda-user", "password": "rotated"})
    row = dry_run()
    c.true("a refused CASDA login fails the run", row["status"] == "failed" and "staging failed" in row["last_error"])
    c.eq("nothing was submitted", row["submission_state"], "not_started")
    control("/__standin/credentials", {"username": "casda-user", "password": "s3cret pass"})

    control("/__standin/faults", {f"visibility-{n}": "permission" for n in range(879950, 879955)})
    row = dry_run()
    c.true("an SBID without permission is skipped", row["status"] == "failed" and
           "no usable datasets" in row["last_error"])
    control("/__standin/faults", {})

    # Issue #17: what needs no archive is checked before staging (which recalls tapes on the
    # real CASDA): a broken graph fails the run with no DataLink or SODA request at all.
    broken = os.path.join(tmp, "broken.graph")
    with open(broken, "w") as f:
        f.write("{not a graph")
    upload_config(srv, wallaby_config(broken))
    with urllib.request.urlopen(f"{base}/__standin/requests", timeout=10) as r:
        before = len(json.loads(r.read())["requests"])
    row = dry_run()
    c.true("a broken graph fails the run", row["status"] == "failed" and "graph" in (row["last_error"] or ""))
    with urllib.request.urlopen(f"{base}/__standin/requests", timeout=10) as r:
        c.eq("nothing was staged for it", len(json.loads(r.read())["requests"]), before)
    upload_config(srv, wallaby_config(test_graph(tmp)))

    # Three failed runs in a row hold the source back from automated admission, longer each
    # time (5 min, 10 min, 20 min after the last failure).
    wait_execution(srv, row["uuid"], lambda r: r["sources_finalized"])  # the source was told
    deadline = time.time() + 30
    while True:
        st, src, _, _ = srv.request("GET", f"{V2}/sources/{source_ids['HIPASSJ1313-15']}")
        if src["execution_failures_in_row"] >= 3 or time.time() > deadline:
            break
        time.sleep(0.05)
    c.eq("failures in a row", src["execution_failures_in_row"], 3)
    finished = psql_epoch(row["completed_at"])
    c.true("held back for 20 minutes", abs(psql_epoch(src["automation_retry_at"]) - finished - 1200) < 30)
except Exception:
    print("\n".join(list(srv.log)[-40:]))
    raise
finally:
    srv.stop()
    casda.stdin.close()
    casda.wait(timeout=10)
c.finish()
