"""Every Slurm run reaches an end (issue #17), on the real Slurm over SSH (scripts/slurm-up.sh):

- two runs on one target: every poll round asks for both (it used to poll only the run due at
  that instant, so one job was asked once and the other 32 times);
- squeue failing for a while: the failure is recorded once as an observation, the target is
  asked less often, and the run completes once squeue answers again;
- sshd going away mid-run (connections killed, not listening): failing polls recorded once,
  and the run completes once it is back;
- sbatch accepted but its answer lost: the run is uncertain, found by name, adopted with the
  details a receipt would have given (session folder, staging root, no stale error), and
  completes, with exactly one job of that name.

squeue and sbatch are wrapped on the login node (/usr/local/bin, before /usr/bin on sshd's
PATH) by scripts that log their calls and fail or lose their answer while a flag file exists."""
import os
import shutil
import stat
import subprocess
import tempfile

from harness import (Checks, DaliugeStandin, Server, create_profile, fresh_database, ready_sources, test_graph,
                     upload_config, wait_execution, wait_for, wallaby_config)
import slurm_loopback as slurm

V2 = "/api/v2"
ENV = slurm.ENV
DLG_ROOT, USER, jobs_named = slurm.DLG_ROOT, slurm.USER, slurm.jobs_named
TERMINAL = ("completed", "failed", "cancelled")
WRAP = "/var/tmp/beampipe-slurm-liveness"
SQUEUE_LOG, SQUEUE_FAIL, SBATCH_LOSE = WRAP + "/squeue.log", WRAP + "/squeue.fail", WRAP + "/sbatch.lose"
WRAPPERS = {
    "/usr/local/bin/squeue": f"""#!/bin/sh
if [ -e {SQUEUE_FAIL} ]; then
  echo "FAIL $*" >> {SQUEUE_LOG}
  echo "squeue: error: slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2
  exit 1
fi
echo "OK $*" >> {SQUEUE_LOG}
exec /usr/bin/squeue "$@"
""",
    "/usr/local/bin/sbatch": f"""#!/bin/sh
if [ -e {SBATCH_LOSE} ]; then
  rm -f {SBATCH_LOSE}
  /usr/bin/sbatch "$@" > /dev/null
  exit 0
fi
exec /usr/bin/sbatch "$@"
""",
}


def install_wrappers():
    os.makedirs(WRAP, exist_ok=True)
    os.chmod(WRAP, 0o777)  # the login user writes the log and removes the flags
    open(SQUEUE_LOG, "w").close()
    os.chmod(SQUEUE_LOG, 0o666)
    for path, text in WRAPPERS.items():
        assert not os.path.exists(path) or open(path).read().startswith("#!/bin/sh"), path
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def remove_wrappers():
    for path in WRAPPERS:
        if os.path.exists(path):
            os.remove(path)
    shutil.rmtree(WRAP, ignore_errors=True)


def squeue_calls():
    with open(SQUEUE_LOG) as f:
        return [line.split() for line in f if " -j " in line]


SSHD_PID = "/run/sshd-loopback-slurm.pid"
SSHD = ["/usr/sbin/sshd", "-f", "/var/lib/loopback-slurm/sshd_config", "-E", "/var/log/sshd-loopback-slurm.log"]


def stop_sshd():
    subprocess.run(["pkill", "-KILL", "-f", "^sshd: " + USER], check=False)
    with open(SSHD_PID) as f:
        os.kill(int(f.read().strip()), 15)
    wait_for("sshd to stop", lambda: subprocess.run(["pgrep", "-f", "loopback-slurm/sshd_config"],
                                                    capture_output=True).returncode != 0, timeout=30)


def start_sshd():
    """As scripts/slurm-up.sh starts it."""
    if subprocess.run(["pgrep", "-f", "loopback-slurm/sshd_config"], capture_output=True).returncode != 0:
        subprocess.run(SSHD, check=True)


c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-slurm-liveness-")
install_wrappers()
tm = DaliugeStandin()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def run(**fields):
    upload_config(srv, wallaby_config(test_graph(tmp, **fields)))
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    assert st == 201, ex
    st, body, _, _ = srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute", {"do_stage": False})
    assert st == 202, body
    return ex["uuid"]


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "loopback", slurm.deployment(),
                   translation={"algo": "metis", "num_par": 1, "num_islands": 1, "tm_url": f"http://127.0.0.1:{tm.tm_port}"})

    # Two runs on one target, submitted one after the other.
    first = run(beampipe_test_sleep_seconds="8")
    a = wait_execution(srv, first, lambda r: r["scheduler_job_id"], timeout=120)["scheduler_job_id"]
    second = run(beampipe_test_sleep_seconds="8")
    rows = [wait_execution(srv, e, lambda r: r["status"] in TERMINAL, timeout=180) for e in (first, second)]
    c.eq("both runs on the target complete", [r["status"] for r in rows], ["completed", "completed"])
    b = rows[1]["scheduler_job_id"]
    asked = [set(call[call.index("-j") + 1].split(",")) for call in squeue_calls()]
    with_a = [i for i, ids in enumerate(asked) if a in ids]
    with_b = [i for i, ids in enumerate(asked) if b in ids]
    both_active = asked[with_b[0]:with_a[-1] + 1] if with_a and with_b else []
    c.true(f"while both ran, every round asked for both ({len(both_active)} rounds: "
           f"{[sorted(x) for x in both_active if not {a, b} <= x]} lacked one)",
           len(both_active) >= 2 and all({a, b} <= ids for ids in both_active))

    # squeue failing for a while.
    eid = run(beampipe_test_sleep_seconds="20")
    wait_execution(srv, eid, lambda r: r["scheduler_state"] == "running", timeout=120)
    open(SQUEUE_FAIL, "w").close()
    row = wait_execution(srv, eid, lambda r: r["scheduler_raw_state"] == "poll_error", timeout=60)
    c.eq("the failing poll is recorded, the run left as it was", (row["status"], row["scheduler_state"]),
         ("running", "running"))
    c.true("the error says what squeue said", "Unable to contact slurm controller" in (row["scheduler_reason"] or ""))
    wait_for("three failed rounds", lambda: sum(1 for call in squeue_calls() if call[0] == "FAIL") >= 3)
    os.remove(SQUEUE_FAIL)
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=180)
    c.eq("the run completes once squeue answers", (row["status"], row["scheduler_state"]), ("completed", "succeeded"))
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    c.eq("the failure was recorded once, not once per round", [o["raw_state"] for o in obs].count("poll_error"), 1)

    # The login node's sshd goes away mid-run: its connections are killed (our pooled one
    # among them) and it stops listening. The failing polls are recorded, not looped on, and
    # once sshd is back the run completes.
    eid = run(beampipe_test_sleep_seconds="15")
    wait_execution(srv, eid, lambda r: r["scheduler_state"] == "running", timeout=120)
    stop_sshd()
    row = wait_execution(srv, eid, lambda r: r["scheduler_raw_state"] == "poll_error", timeout=120)
    c.eq("the unreachable login node is recorded, the run left running", row["status"], "running")
    start_sshd()
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=300)
    c.eq("the run completes once sshd is back", (row["status"], row["scheduler_state"]), ("completed", "succeeded"))
    st, obs, _, _ = srv.request("GET", f"{V2}/executions/{eid}/observations")
    c.true("the outage was recorded on change, not per round",
           1 <= [o["raw_state"] for o in obs].count("poll_error") <= 3)

    # sbatch accepted the job but its answer was lost.
    open(SBATCH_LOSE, "w").close()
    os.chmod(SBATCH_LOSE, 0o666)
    eid = run(beampipe_test_exit_code="0")
    row = wait_execution(srv, eid, lambda r: r["status"] in TERMINAL, timeout=180)
    sid = row["daliuge_session_id"]
    c.true("the lost answer was consumed", not os.path.exists(SBATCH_LOSE))
    c.eq("found by name, adopted and completed", (row["status"], row["submission_state"], row["adopted_by_lookup"]),
         ("completed", "submitted", True))
    c.true("the adopted run knows its session folder", (row["remote_session_dir"] or "").startswith(DLG_ROOT + "/")
           and row["staging_root"] == row["remote_session_dir"] + "/wallaby-staging")
    c.eq("no stale error on the completed run", (row["last_error"], row["failure_class"]), (None, None))
    c.eq("exactly one job with that name", jobs_named(sid), [row["scheduler_job_id"]])
    st, ev, _, _ = srv.request("GET", f"{V2}/executions/{eid}/events")
    c.true("the uncertainty is on record", "execution.submission_uncertain" in [e["event_type"] for e in ev])
except Exception:
    print("\n".join(list(srv.log)[-60:]))
    raise
finally:
    start_sshd()
    srv.stop()
    tm.stop()
    remove_wrappers()
c.finish()
