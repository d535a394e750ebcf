"""The loopback Slurm of scripts/slurm-up.sh as the Slurm tests reach it: where its login node
is, the profile that points at it, and commands run there over plain ssh (the tests' own view,
independent of beampipe's SSH client)."""
import os
import subprocess
import time

KEY = os.environ.get("BEAMPIPE_TEST_SLURM_KEY", "/var/lib/loopback-slurm/id_ed25519")
KNOWN = os.environ.get("BEAMPIPE_TEST_SLURM_KNOWN_HOSTS", "/var/lib/loopback-slurm/known_hosts")
PORT = int(os.environ.get("BEAMPIPE_TEST_SLURM_PORT", "2222"))
USER = os.environ.get("BEAMPIPE_TEST_SLURM_USER", "hpc")
DLG_ROOT = os.environ.get("BEAMPIPE_TEST_SLURM_DLG_ROOT", "/home/hpc/dlg")
# The server's environment for real backends on this Slurm.
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_USE_REAL_BACKENDS": "true", "BEAMPIPE_SLURM_POLL_INTERVAL_MS": "1000",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "1000", "BEAMPIPE_EXECUTION_SCAN_MS": "200",
       "SLURM_SSH_PRIVATE_KEY_FILE": KEY, "SLURM_SSH_KNOWN_HOSTS_SOURCE": KNOWN}


def deployment():
    """The slurm_remote deployment block of a profile on this login node."""
    return {"kind": "slurm_remote", "login_node": "127.0.0.1", "ssh_port": PORT, "remote_user": USER,
            "account": "beampipe-test", "home_dir": f"/home/{USER}", "dlg_root": DLG_ROOT,
            "log_dir": f"{DLG_ROOT}/log", "facility": "loopback", "job_duration_minutes": 5,
            "resources": {"cpus_per_task": 1}}


def ssh(command):
    out = subprocess.run(["ssh", "-i", KEY, "-o", f"UserKnownHostsFile={KNOWN}", "-o", "BatchMode=yes",
                          "-p", str(PORT), f"{USER}@127.0.0.1", command], capture_output=True, text=True, timeout=60)
    return out.stdout


def jobs_named(name, timeout=60):
    """Job ids sacct knows under that name; slurmdbd records a job a few seconds after the
    controller, so wait (bounded) until it shows up."""
    deadline = time.time() + timeout
    while True:
        jobs = [line for line in ssh(f"sacct -n -X -P -S now-1days --name='{name}' -o JobID").splitlines()
                if line.strip()]
        if jobs or time.time() > deadline:
            return jobs
        time.sleep(1)
