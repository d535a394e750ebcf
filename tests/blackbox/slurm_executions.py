"""Executions on a real Slurm over SSH (scripts/slurm-up.sh: Slurm 22.05 + slurmdbd + sshd on
127.0.0.1:2222, with the stand-in DALiuGE install of scripts/slurm-dlg-standin.sh) and the
Translator Manager stand-in for unroll_and_partition: a job polled to COMPLETED, a failing job
with its exit code and its stderr file where the diagnostics say, a confirmed cancel, and
beampipe killed right after sbatch returned and before the receipt was recorded, after which
reconciliation adopts the job by name and sacct shows exactly one job with that name. The
dependency prober runs `squeue --version` over the pooled SSH session: /ready says the login node
is up, and down (with a short reason) once its host key no longer matches known_hosts, although
sshd still answers with its banner."""
import json
import os
import signal
import subprocess
import tempfile

from harness import (Checks, DaliugeStandin, Server, create_profile, fresh_database, ready_sources, test_graph,
                     upload_config, wait_execution, wallaby_config)
import slurm_loopback as slurm

V2 = "/api/v2"
ENV = dict(slurm.ENV, BEAMPIPE_DEPENDENCY_PROBE_SECONDS="1")
DLG_ROOT, USER, PORT, KEY, KNOWN = slurm.DLG_ROOT, slurm.USER, slurm.PORT, slurm.KEY, slurm.KNOWN
jobs_named, ssh = slurm.jobs_named, slurm.ssh
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-slurm-")
tm = DaliugeStandin()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def run(graph):
    upload_config(srv, wallaby_config(graph))
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    assert st == 201, ex
    st, body, _, _ = srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute", {"do_stage": False})
    assert st == 202, body
    return ex["uuid"]


def slurm_dependency(pred, timeout=60):
    """The slurm entry of /ready once pred(entry) holds (bounded wait)."""
    import time
    deadline = time.time() + timeout
    entry = None
    while time.time() < deadline:
        st, body, _, _ = srv.request("GET", V2 + "/ready")
        entry = next((d for d in body.get("dependencies", []) if d["dependency"] == "slurm"), None)
        if entry and pred(entry):
            return entry
        time.sleep(0.2)
    raise RuntimeError(f"the slurm dependency did not reach the expected state; last: {entry}")


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "loopback", slurm.deployment(),
                   translation={"algo": "metis", "num_par": 1, "num_islands": 1, "tm_url": f"http://127.0.0.1:{tm.tm_port}"})

    # The prober's check runs a real command on the login node.
    up = slurm_dependency(lambda d: d["status"] == "up")
    c.eq("the login node takes commands", up["target"], f"127.0.0.1:{PORT}")
    # GET /scheduler/status (issue #21): the login node asked now, and the job's resources.
    st, status, _, _ = srv.request("GET", V2 + "/scheduler/status?profile=loopback")
    con = status["connectivity"]
    c.eq("scheduler status", (st, status["profile"], con["reachable"], con["missing_commands"], con["target"]),
         (200, "loopback", True, [], f"{USER}@127.0.0.1:{PORT}"))
    c.true("Slurm's version as squeue says it", (con["scheduler_version"] or "").startswith("slurm"))
    c.eq("the resources as #SBATCH lines", status["rendered_resource_request"].splitlines()[:2],
         [f"#SBATCH --account={status['resource_request']['account']}",
          f"#SBATCH --nodes={status['resource_request']['nodes']}"])

    # A job that exits 0: awaiting_scheduler → COMPLETED.
    eid = run(test_graph(tmp, beampipe_test_exit_code="0"))
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"), timeout=180)
    c.eq("Slurm job completes", (row["status"], row["scheduler_state"], row["scheduler_name"]),
         ("completed", "succeeded", "slurm"))
    c.true("bare numeric job id", row["scheduler_job_id"].isdigit())
    c.true("session folder under dlg_root", (row["remote_session_dir"] or "").startswith(DLG_ROOT + "/workspace/"))
    sid = row["daliuge_session_id"]
    c.eq("the Slurm job is named after the session", jobs_named(sid), [row["scheduler_job_id"]])
    last = row["beampipe_run_record"]["slurm"]["last_observation"]
    c.eq("observed COMPLETED with exit 0", (last["state"], last.get("exit_code")), ("COMPLETED", 0))

    # A job that exits 3: FAILED with its exit code.
    eid = run(test_graph(tmp, beampipe_test_exit_code="3"))
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"), timeout=180)
    c.eq("failing job fails the execution", (row["status"], row["scheduler_state"]), ("failed", "failed"))
    c.true(f"error carries state and exit code ({row['last_error']!r})",
           "state=FAILED" in row["last_error"] and "exit_code=3" in row["last_error"])
    # The diagnostics name where the job's stderr really is (sbatch runs from $HOME, so the
    # job script's relative --error would land there without the explicit paths).
    glob = row["beampipe_run_record"]["slurm"]["terminal"]["diagnostics"]["stderr_glob"]
    c.eq("stderr_glob under the session folder", glob, row["remote_session_dir"] + "/logs/err-*.log")
    c.true("the error names the glob", "stderr_glob=" + glob in row["last_error"])
    c.eq("the glob names the job's stderr file", ssh(f"ls -1 {glob}").split(),
         [f"{row['remote_session_dir']}/logs/err-{row['scheduler_job_id']}.log"])
    c.true("which holds srun's report of the exit", "Exited with exit code 3" in ssh(f"cat {glob}"))
    c.eq("nothing in the remote home", ssh(f"ls -1 ~/err-{row['scheduler_job_id']}.log 2>/dev/null"), "")

    # Cancel a sleeping job: cancelled only once Slurm confirms.
    eid = run(test_graph(tmp, beampipe_test_sleep_seconds="300"))
    sleeping = wait_execution(srv, eid, lambda r: r["submission_state"] == "submitted", timeout=120)
    # GET /scheduler/jobs: the runs on Slurm in flight; the finished ones only when asked.
    st, jobs, _, _ = srv.request("GET", f"{V2}/scheduler/jobs")
    c.eq("the sleeping job is the one in flight", (st, [(j["execution_id"], j["scheduler_job_id"]) for j in jobs["items"]]),
         (200, [(eid, sleeping["scheduler_job_id"])]))
    st, every, _, _ = srv.request("GET", f"{V2}/scheduler/jobs?include_finished=true")
    c.eq("with the finished ones, newest first", (every["total"], every["items"][0]["execution_id"],
                                                 {j["execution_status"] for j in every["items"][1:]}),
         (3, eid, {"completed", "failed"}))
    st, row, _, _ = srv.request("PATCH", f"{V2}/executions/{eid}", {"status": "cancelled"})
    c.eq("cancel requested", (st in (200, 202), row["cancel_requested"]), (True, True))
    row = wait_execution(srv, eid, lambda r: r["status"] == "cancelled", timeout=120)
    c.eq("Slurm confirmed the cancel", (row["scheduler_state"], row["terminal_outcome"]), ("cancelled", "cancelled"))
    c.true("sacct says CANCELLED", "CANCELLED" in ssh(f"sacct -n -X -P -j {row['scheduler_job_id']} -o State"))

    # SIGKILL right after sbatch returned, before the receipt was recorded.
    srv.stop()
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_FAULT_INJECT="kill_after_dispatch"))
    srv.wait_ready()
    eid = run(test_graph(tmp, beampipe_test_exit_code="0"))
    c.eq("killed right after sbatch", srv.proc.wait(timeout=180), -signal.SIGKILL)
    srv = Server(conninfo=db, extra_env=ENV)
    srv.wait_ready()
    row = wait_execution(srv, eid, lambda r: r["status"] in ("completed", "failed"), timeout=180)
    sid = row["daliuge_session_id"]
    c.eq("adopted by name and completed", (row["status"], row["submission_state"]), ("completed", "submitted"))
    c.eq("sacct: exactly one job with that name", jobs_named(sid), [row["scheduler_job_id"]])
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    lookups = [o for o in obs if o["source_version"] == "beampipe-slurm-name-lookup/v1"]
    c.eq("one name lookup found it", [o["payload"]["outcome"] for o in lookups][:1], ["found"])
    # #17 item 7: the adopted run knows its session folder (the job's working directory).
    c.true("adopted with its session folder", row["adopted_by_lookup"] and
           (row["remote_session_dir"] or "").startswith(DLG_ROOT + "/workspace/")
           and row["beampipe_run_record"]["slurm"]["paths"]["session_dir"] == row["remote_session_dir"])
    c.eq("and no stale error", (row["last_error"], row["failure_class"]), (None, None))

    # A known_hosts whose key for the login node is another one: sshd still sends its banner,
    # but no SSH command can run, and /ready says so.
    srv.stop()
    wrong = os.path.join(tmp, "known_hosts.wrong")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, "other_host_key")],
                   check=True, capture_output=True)
    with open(os.path.join(tmp, "other_host_key.pub")) as f:
        other = f.read().split()
    with open(wrong, "w") as f:
        f.write(f"[127.0.0.1]:{PORT} {other[0]} {other[1]}\n")
    srv = Server(conninfo=db, extra_env=dict(ENV, SLURM_SSH_KNOWN_HOSTS_SOURCE=wrong))
    srv.wait_ready()
    down = slurm_dependency(lambda d: d["status"] == "down")
    c.true("down because of the host key", "host key" in down["detail"].lower())
    c.true("a short reason", 0 < len(down["detail"]) <= 300)
    with open(KEY) as f:
        key_body = "".join(f.read().splitlines()[1:-1])
    c.true("no key material in the reason", key_body[:40] not in down["detail"])
    st, metrics, _, text = srv.request("GET", V2 + "/metrics")
    c.true("metric: Slurm down", f'beampipe_dependency_up{{dependency="slurm",target="127.0.0.1:{PORT}"}} 0' in text)
    st, status, _, _ = srv.request("GET", V2 + "/scheduler/status?profile=loopback")
    c.eq("scheduler status with the wrong host key: not reachable, and why",
         (st, status["connectivity"]["reachable"], "host key" in (status["connectivity"]["detail"] or "").lower()),
         (200, False, True))

    # A credential slot made by `beampipe slurm credentials init` reaches the real login node,
    # with neither of the settings' global key or known_hosts.
    srv.stop()
    slots = os.path.join(tmp, "slots")
    cli_env = dict(os.environ, BEAMPIPE_SSH_CREDENTIALS_DIR=slots)
    made = subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "init", "loop", "--known-hosts",
                           KNOWN], env=cli_env, capture_output=True, text=True, timeout=60)
    pub = made.stdout.splitlines()[-1] if made.returncode == 0 else ""
    c.true("credentials init prints the public key", pub.startswith("ssh-ed25519 "))
    checked = subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "check", "loop"], env=cli_env,
                             capture_output=True, text=True, timeout=60)
    c.eq("credentials check passes", (checked.returncode, checked.stdout.startswith("OK")), (0, True))

    def signs_in(slot_dir):
        return subprocess.run(["ssh", "-i", os.path.join(slot_dir, "private_key"), "-o",
                               f"UserKnownHostsFile={os.path.join(slot_dir, 'known_hosts')}", "-o", "BatchMode=yes",
                               "-o", "IdentitiesOnly=yes", "-p", str(slurm.PORT), f"{slurm.USER}@127.0.0.1", "true"],
                              capture_output=True, timeout=60).returncode == 0

    def copy_id():
        return subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "copy-id", "loop", "--host",
                               "127.0.0.1", "--port", str(slurm.PORT), "--user", slurm.USER, "--identity", KEY],
                              env=cli_env, capture_output=True, text=True, timeout=60)

    c.true("before copy-id the new key does not sign in", not signs_in(os.path.join(slots, "loop")))
    first, second = copy_id(), copy_id()
    c.eq("copy-id installs the key and proves it signs in", (first.returncode, "was added" in first.stdout),
         (0, True))
    c.eq("a second copy-id adds nothing", (second.returncode, "already in" in second.stdout), (0, True))
    c.true("the key signs in, seen by plain ssh", signs_in(os.path.join(slots, "loop")))
    c.eq("authorized_keys holds it once", ssh("cat ~/.ssh/authorized_keys").count(pub.split()[1]), 1)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, "stranger")], check=True)
    with open(os.path.join(tmp, "stranger.pub")) as k, open(os.path.join(tmp, "stranger_known_hosts"), "w") as f:
        f.write(f"[127.0.0.1]:{slurm.PORT} " + " ".join(k.read().split()[:2]) + "\n")
    made = subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "init", "wrong-host", "--known-hosts",
                           os.path.join(tmp, "stranger_known_hosts")], env=cli_env, capture_output=True, timeout=60)
    refused = subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "copy-id", "wrong-host", "--host",
                              "127.0.0.1", "--port", str(slurm.PORT), "--user", slurm.USER, "--identity", KEY],
                             env=cli_env, capture_output=True, text=True, timeout=60)
    c.eq("copy-id refuses a login node whose host key the slot does not know",
         (made.returncode, refused.returncode, "host key" in refused.stderr.lower()), (0, 1, True))
    subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "remove", "wrong-host"], env=cli_env,
                   capture_output=True, timeout=60)

    # sync: the slot mirrored into the folder the server reads, secrets owner-only.
    served = os.path.join(tmp, "served-slots")

    def sync(*extra):
        r = subprocess.run([os.environ["BEAMPIPE_BIN"], "slurm", "credentials", "sync", "--to", served, "--json",
                            *extra], env=cli_env, capture_output=True, text=True, timeout=60)
        return r.returncode, {x["file"]: x["change"] for x in json.loads(r.stdout)["changes"]} if r.returncode == 0 else r.stderr

    c.eq("sync --dry-run writes nothing", (sync("--dry-run")[0], os.path.exists(served)), (0, False))
    c.eq("sync copies the slot", sync(), (0, {"private_key": "added", "private_key.pub": "added",
                                              "known_hosts": "added"}))
    c.eq("secrets owner-only in an owner-only slot",
         [oct(os.stat(os.path.join(served, *p)).st_mode & 0o777) for p in (("loop",), ("loop", "private_key"))],
         [oct(0o700), oct(0o600)])
    c.eq("a second sync changes nothing", set(sync()[1].values()), {"unchanged"})
    os.chmod(os.path.join(served, "loop", "private_key"), 0o644)
    c.eq("a widened key is put right", sync()[1]["private_key"], "updated")
    slot_env = {k: v for k, v in ENV.items() if not k.startswith("SLURM_SSH_")}
    srv = Server(conninfo=db, extra_env=dict(slot_env, BEAMPIPE_SSH_CREDENTIALS_DIR=served))
    srv.wait_ready()
    create_profile(srv, "loopback-slot", dict(slurm.deployment(), ssh_credential="loop"), is_default=False)
    st, status, _, _ = srv.request("GET", V2 + "/scheduler/status?profile=loopback-slot")
    c.eq("the slot's key reaches the login node", (st, status["connectivity"]["reachable"]), (200, True))
    ssh("sed -i '/ beampipe$/d' ~/.ssh/authorized_keys")
except Exception:
    print("\n".join(list(srv.log)[-60:]))
    raise
finally:
    srv.stop()
    tm.stop()
c.finish()
