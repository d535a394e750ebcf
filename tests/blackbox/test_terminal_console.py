"""`beampipe console` in a real terminal (tmux): it draws the views from the API with the kept
sign-in, redraws from the live event feed (its interval is an hour here, so only the feed can),
filters, pauses and shows a row in detail, drains and resumes a worker and cancels and retries a
run (each confirmed), shows the diff of two runs, keeps running and says so when the API goes away, and quits on q."""
import os
import shutil
import subprocess
import tempfile

from harness import (REFERENCE, Checks, Server, create_profile, ready_sources, upload_config, wait_for,
                     wallaby_config)

V2 = "/api/v2"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
TMUX = shutil.which("tmux")
c = Checks()
srv = Server()
home = tempfile.mkdtemp(prefix="bp-console-home-")
sock = "bp-console-" + str(os.getpid())
env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_")}
env.update(XDG_CONFIG_HOME=home, TERM="xterm-256color")
BIN = os.environ["BEAMPIPE_BIN"]


def tmux(*args):
    return subprocess.run([TMUX, "-L", sock, *args], capture_output=True, text=True, env=env, timeout=30)


def screen():
    return tmux("capture-pane", "-p", "-t", "console").stdout


def shows(what, timeout=30):
    return wait_for(f"the console to show {what!r}", lambda: what in screen(), timeout=timeout)


try:
    srv.wait_ready()
    url = f"http://127.0.0.1:{srv.port}"
    node = srv.request("GET", V2 + "/ready")[1]["node"]["id"]
    r = subprocess.run([BIN, "console", "--url", url], env=env, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    c.eq("no terminal: a usage error", (r.returncode, "terminal" in r.stderr), (2, True))
    r = subprocess.run([BIN, "login", "--url", url, "--username", srv.env["BEAMPIPE_ADMIN_USERNAME"]], env=env,
                       input=srv.env["BEAMPIPE_ADMIN_PASSWORD"] + "\n", capture_output=True, text=True, timeout=30)
    c.eq("signed in", r.returncode, 0)
    # A run to cancel from the console (admitted, not started).
    upload_config(srv, wallaby_config(GRAPH))
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                           "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("a run to cancel", st, 201)

    tmux("new-session", "-d", "-s", "console", "-x", "200", "-y", "45",
         f"{BIN} console --url {url} --interval 3600")
    shows("recent failures")
    c.true("the overview counts workers and runs", "workers" in screen() and "executions" in screen())

    # The log view, redrawn by the live feed alone: a source registered now shows up.
    tmux("send-keys", "-t", "console", "8")
    shows("POSITION")
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "LIVE-1"})
    shows("SourceRegistered")
    c.true("the status line says the feed is live", "(live)" in screen())
    # Pause: new events wait for r.
    tmux("send-keys", "-t", "console", "2")
    shows("LIVE-1")
    tmux("send-keys", "-t", "console", "p")
    shows("[paused]")
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "LIVE-2"})
    wait_for("the event recorded", lambda: srv.request("GET", V2 + "/sources?project_module=wallaby_hires")[1]
             and any(r["source_identifier"] == "LIVE-2"
                     for r in srv.request("GET", V2 + "/sources?project_module=wallaby_hires")[1]))
    tmux("send-keys", "-t", "console", "r")
    shows("LIVE-2")
    tmux("send-keys", "-t", "console", "p")
    # Filter, then the selected row in detail.
    tmux("send-keys", "-t", "console", "/")
    tmux("send-keys", "-t", "console", "LIVE-2", "Enter")
    shows("filter: LIVE-2")
    c.true("the filter keeps the matching rows only", "LIVE-2" in screen() and "LIVE-1" not in screen())
    tmux("send-keys", "-t", "console", "Enter")
    shows("Detail")
    c.true("the detail shows the row's fields", '"source_identifier": "LIVE-2"' in screen())
    tmux("send-keys", "-t", "console", "q")  # any key but the arrows: back to the table
    shows("filter: LIVE-2")

    tmux("send-keys", "-t", "console", "4")
    shows(node)
    tmux("send-keys", "-t", "console", "d")
    shows(f"Drain worker {node}?")
    tmux("send-keys", "-t", "console", "y")
    wait_for("the drain recorded", lambda: srv.request("GET", f"{V2}/workers/{node}")[1]["status"] == "draining")
    shows("from the console")  # the drain reason, in the refreshed table
    tmux("send-keys", "-t", "console", "u")
    shows(f"Resume worker {node}?")
    tmux("send-keys", "-t", "console", "y")
    wait_for("the resume recorded", lambda: srv.request("GET", f"{V2}/workers/{node}")[1]["status"] == "active")

    tmux("send-keys", "-t", "console", "3")
    shows(ex["uuid"])
    tmux("send-keys", "-t", "console", "c")
    shows(f"Cancel execution {ex['uuid']}?")
    tmux("send-keys", "-t", "console", "y")
    wait_for("the cancel recorded",
             lambda: srv.request("GET", f"{V2}/executions/{ex['uuid']}")[1]["cancel_reason"]
             == "cancelled from the console")

    tmux("send-keys", "-t", "console", "t")
    shows(f"Retry execution {ex['uuid']}?")
    tmux("send-keys", "-t", "console", "y")
    shows("error: POST")  # a cancelled run cannot be retried: the API's refusal, on the status line
    c.true("the refusal is the API's", "409" in screen())
    # Run diffs (#22): mark one run, select another, x shows what differs in the pager.
    st, ex2, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires",
                                                            "archive_name": "casda",
                                                            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("a second run", st, 201)
    shows(ex2["uuid"])  # the newest run is listed first, under the selection
    tmux("send-keys", "-t", "console", "x")
    shows("mark a run with m first")
    tmux("send-keys", "-t", "console", "m")
    shows(f"marked run {ex2['uuid']}")
    tmux("send-keys", "-t", "console", "Down")
    tmux("send-keys", "-t", "console", "x")
    shows(f"runs {ex2['uuid']} -> {ex['uuid']}")
    c.true("the pager shows each part of the diff",
           all(part in screen() for part in ("Run diff", "config", "profile", "sources", "manifest", "graph")))
    tmux("send-keys", "-t", "console", "q")  # any key but the arrows: back to the table
    shows("m mark")
    tmux("send-keys", "-t", "console", "5")
    shows("Slurm runs in flight: 0")
    tmux("send-keys", "-t", "console", "6")
    shows("GET /daliuge/inspect: 400")  # the simulated backend has no DALiuGE to ask: the API says so
    tmux("send-keys", "-t", "console", "8")
    shows("WorkerDrained")
    srv.stop()
    shows("error:")
    c.true("the console outlives its API", tmux("has-session", "-t", "console").returncode == 0)
    tmux("send-keys", "-t", "console", "q")
    wait_for("q to end the console", lambda: tmux("has-session", "-t", "console").returncode != 0)
finally:
    tmux("kill-server")
    srv.stop()
c.finish()
