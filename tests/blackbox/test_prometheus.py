"""Metrics against a real Prometheus (Debian's package): the exposition on the metrics listener
passes `promtool check metrics`; Prometheus scrapes it, and through its HTTP query API the
expected beampipe_* series exist and move as the API is used and the scheduler ticks."""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import Checks, Server

V2 = "/api/v2"
c = Checks()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


srv = Server(extra_env={"BEAMPIPE_SCHEDULER_ENABLED": "true", "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1"})
prom = None
work = tempfile.mkdtemp(prefix="beampipe-prom-")
try:
    srv.wait_ready()
    c.true("the metrics listener has its own port", srv.metrics_port and srv.metrics_port != srv.port)
    text = get(f"http://127.0.0.1:{srv.metrics_port}/metrics")
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    c.eq("promtool check metrics", (lint.returncode, lint.stdout + lint.stderr), (0, ""))
    st, _, _, _ = srv.request("GET", V2 + "/metrics")
    c.eq("/api/v2/metrics is open too", st, 200)
    try:
        get(f"http://127.0.0.1:{srv.metrics_port}/other")
        c.true("the listener serves /metrics only", False)
    except urllib.error.HTTPError as e:
        c.eq("the listener serves /metrics only", e.code, 404)

    port = free_port()
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: beampipe
    static_configs:
      - targets: ['127.0.0.1:{srv.metrics_port}']
""")
    prom = subprocess.Popen(["prometheus", f"--config.file={work}/prometheus.yml",
                             f"--storage.tsdb.path={work}/data", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))
    base = f"http://127.0.0.1:{port}"

    def query(expr):
        body = json.loads(get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        return body["data"]["result"]

    def value(expr):
        r = query(expr)
        return float(r[0]["value"][1]) if r else None

    def until(what, fn, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                got = fn()
                if got:
                    return got
            except (OSError, ValueError, KeyError):
                pass  # Prometheus still starting
            time.sleep(0.2)
        c.true(what, False)
        return None

    until("Prometheus scrapes beampipe", lambda: value('up{job="beampipe"}') == 1.0)
    for series in ["beampipe_api_requests_total", "beampipe_api_request_duration_seconds_bucket",
                   "beampipe_events_appended_total", "beampipe_event_append_batches_total",
                   "beampipe_projection_lag", "beampipe_projection_position", "beampipe_live_actors",
                   "beampipe_jobs_queue_depth", "beampipe_jobs_oldest_queued_age_seconds",
                   "beampipe_sources_workflow_pending", "beampipe_scheduler_tick_duration_seconds_count",
                   "beampipe_scheduler_admitted_total", "beampipe_read_model_gauges_up",
                   "beampipe_dependency_up", "beampipe_dependency_probe_duration_seconds",
                   "beampipe_nodes_alive", "beampipe_event_append_batch_size_bucket",
                   "beampipe_event_append_batch_duration_seconds_count",
                   "beampipe_alert_deliveries_total"]:
        c.true(f"series {series}", until(f"series {series}", lambda s=series: query(s)))

    # The series move: requests are counted, registered sources appear by discovery state.
    before = until("request counter", lambda: value("sum(beampipe_api_requests_total)"))
    for i in range(5):
        srv.request("POST", V2 + "/sources", {"project_module": "prom", "source_identifier": f"P{i}"})
    c.true("the request counter moves",
           until("requests counted", lambda: (value("sum(beampipe_api_requests_total)") or 0) >= (before or 0) + 5))
    c.true("sources by discovery state",
           until("sources gauge", lambda: value('beampipe_sources{state="disabled"}') == 5.0))
    c.true("live source actors",
           until("live actors", lambda: (value('beampipe_live_actors{kind="source"}') or 0) >= 5))
    # An alert delivery that fails (a channel test against a closed port) is counted.
    st, ch, _, _ = srv.request("POST", V2 + "/notification-channels", {
        "name": "nowhere", "kind": "webhook", "config": {"url": f"http://127.0.0.1:{free_port()}/hook"}})
    st, t, _, _ = srv.request("POST", f"{V2}/notification-channels/{ch['uuid']}/test")
    c.eq("the test delivery failed", t.get("status"), "failed")
    c.true("failed deliveries counted",
           until("deliveries", lambda: value('beampipe_alert_deliveries_total{outcome="failed"}') == 1.0))
    ticks = value("beampipe_scheduler_tick_duration_seconds_count") or 0
    c.true("the scheduler's tick histogram moves",
           until("ticks", lambda: (value("beampipe_scheduler_tick_duration_seconds_count") or 0) > ticks))
finally:
    if prom:
        prom.terminate()
        prom.wait(timeout=30)
    srv.stop()
c.finish()
