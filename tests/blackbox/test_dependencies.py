"""Dependency health (issue #8): with real backends, a background prober checks PostgreSQL and
every deployment profile's Translator Manager, DIM (the DALiuGE stand-in) and Slurm login node
(`squeue --version` over SSH; slurm_executions.py checks it against the real Slurm); /ready lists the results with an overall dependencies status, and the metrics
carry beampipe_dependency_up and the probe latency. A dependency that goes away is seen down."""
import re
import socket
import time

from harness import Checks, DaliugeStandin, Server, create_profile

V2 = "/api/v2"
c = Checks()
dlg = DaliugeStandin()
# A closed port for a Slurm login node nobody answers on.
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    closed_port = s.getsockname()[1]
srv = Server(extra_env={"BEAMPIPE_USE_REAL_BACKENDS": "true", "BEAMPIPE_DEPENDENCY_PROBE_SECONDS": "1",
                        "BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": ""})


def deps():
    st, body, _, _ = srv.request("GET", V2 + "/ready")
    return body, {d["dependency"]: d for d in body["dependencies"]}


def settle(what, pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        body, by = deps()
        if pred(by):
            return body, by
        time.sleep(0.1)
    c.true(what, False)
    return deps()


try:
    srv.wait_ready()
    create_profile(srv, "dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": dlg.dim_port,
                                "dim_host_for_tm": "127.0.0.1", "dim_port_for_tm": dlg.dim_port},
                   translation={"algo": "metis", "num_par": 1, "num_islands": 1,
                                "tm_url": f"http://127.0.0.1:{dlg.tm_port}"})
    create_profile(srv, "hpc", {"kind": "slurm_remote", "login_node": "127.0.0.1", "ssh_port": closed_port,
                                "remote_user": "beampipe", "facility": "test", "account": "acct",
                                "home_dir": "/tmp", "dlg_root": "/tmp/dlg", "log_dir": "/tmp/dlg/log",
                                "job_duration_minutes": 5, "num_nodes": 1, "num_islands": 1},
                   module="wallaby_hires", is_default=False)
    body, by = settle("every dependency probed", lambda d: {"postgres", "daliuge_tm", "daliuge_dim", "slurm"} <= set(d))
    c.eq("postgres up", by.get("postgres", {}).get("status"), "up")
    c.eq("the TM stand-in answers", by.get("daliuge_tm", {}).get("status"), "up")
    c.eq("the DIM stand-in answers", (by.get("daliuge_dim", {}).get("status"), by.get("daliuge_dim", {}).get("target")),
         ("up", f"http://127.0.0.1:{dlg.dim_port}/api"))
    c.eq("nobody on the Slurm port", by.get("slurm", {}).get("status"), "down")
    c.eq("overall: degraded, still ready", (body["dependencies_status"], body["status"]), ("degraded", "ready"))

    st, _, _, text = srv.request("GET", V2 + "/metrics")
    c.true("metric: DIM up", re.search(r'beampipe_dependency_up\{dependency="daliuge_dim",target="[^"]+"\} 1', text))
    c.true("metric: Slurm down", re.search(r'beampipe_dependency_up\{dependency="slurm",target="127.0.0.1:\d+"\} 0', text))
    c.true("metric: probe latency", 'beampipe_dependency_probe_duration_seconds{dependency="postgres"' in text)

    dlg.stop()  # the DALiuGE services go away: the next rounds see it
    body, by = settle("the DIM is seen down", lambda d: d.get("daliuge_dim", {}).get("status") == "down")
    c.eq("DIM down after the stand-in stopped", by["daliuge_dim"]["status"], "down")
    c.true("with a reason", by["daliuge_dim"]["detail"] != "")
finally:
    srv.stop()
    dlg.stop()
c.finish()
