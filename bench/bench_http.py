#!/usr/bin/env python3
"""HTTP read path: GET /api/v2/executions/{id} through beampipe, side by side with nginx serving
the same JSON bytes from a file, both on loopback, measured with wrk (2 threads, 64 connections;
the shape of ../shared/bench/baselines/http). Pairs are interleaved so each ratio is taken under
the same noise. Issue #19's goal: beampipe at >= 0.7x nginx's requests/s, p99 within 1.5x.

What beampipe does per request and nginx does not: bearer token check (HS256 + the session's
revocation check), the rate limiter's bookkeeping is off (BEAMPIPE_RATE_LIMIT_REQUESTS=0), a
PostgreSQL read of the ledger row (redacted) and its JSON encoding, access metrics.

Prints RESULT lines as bench_store.cpp does, then RATIO lines. nginx and wrk install from
Debian (nginx-light, wrk) when missing.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))
import harness  # noqa: E402

LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKSTATS\t%d\t%d\t%d\t%d\t%.1f\t%.1f\n", summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""

NGINX_CONF = """worker_processes {workers};
pid {run}/nginx.pid;
error_log {run}/error.log warn;
daemon on;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types {{ application/json json; }}
    default_type application/json;
    client_body_temp_path {run}/tmp;
    proxy_temp_path {run}/tmp;
    fastcgi_temp_path {run}/tmp;
    uwsgi_temp_path {run}/tmp;
    scgi_temp_path {run}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {run}/www;
        location / {{ }}
    }}
}}
"""


def result(name, metric, value, unit):
    print(f"RESULT\t{name}\t{metric}\t{value}\t{unit}", flush=True)


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def ensure_tools():
    missing = [p for t, p in (("nginx", "nginx-light"), ("wrk", "wrk")) if not shutil.which(t)]
    if missing:
        log("installing " + " ".join(missing) + " from Debian")
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def wrk(url, seconds, lua, headers=()):
    args = ["wrk", "-t2", "-c64", "-d1s", url]
    for h in headers:
        args[1:1] = ["-H", h]
    subprocess.run(args, capture_output=True, timeout=30)  # warm-up, not recorded
    args[args.index("-d1s")] = f"-d{seconds}s"
    out = subprocess.run([*args, "-s", lua], capture_output=True, text=True, timeout=seconds + 30).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKSTATS"))
    requests, duration_us, sock_errors, non2xx, p50, p99 = line.split("\t")[1:]
    return {"rps": int(requests) / (int(duration_us) / 1e6), "p50_ms": float(p50) / 1000,
            "p99_ms": float(p99) / 1000, "errors": int(sock_errors) + int(non2xx)}


def report(name, s):
    result(name, "throughput", f"{s['rps']:.1f}", "req/s")
    result(name, "latency_p50", f"{s['p50_ms']:.3f}", "ms")
    result(name, "latency_p99", f"{s['p99_ms']:.3f}", "ms")
    result(name, "errors", s["errors"], "count")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("BEAMPIPE_BIN") or os.path.join(ROOT, "build", "beampipe"))
    ap.add_argument("--seconds", type=int, default=10, help="per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved nginx/beampipe pairs")
    ap.add_argument("--api-threads", type=int, default=8, help="BEAMPIPE_API_THREADS")
    args = ap.parse_args()
    ensure_tools()
    os.environ["BEAMPIPE_BIN"] = os.path.abspath(args.bin)
    work = tempfile.mkdtemp(prefix="beampipe-bench-http-")
    os.chmod(work, 0o755)  # nginx's workers (nobody) read www/ under it
    pg_dir = os.path.join(work, "pg")
    os.environ["BEAMPIPE_TEST_PG_DIR"] = pg_dir
    test_pg = os.path.join(ROOT, "scripts", "test-pg")
    subprocess.run([test_pg, "up", pg_dir], check=True, capture_output=True)
    srv = None
    nginx_conf = os.path.join(work, "nginx.conf")
    try:
        srv = harness.Server(extra_env={"BEAMPIPE_RATE_LIMIT_REQUESTS": "0",
                                        "BEAMPIPE_API_THREADS": str(args.api_threads),
                                        "BEAMPIPE_LOG_LEVEL": "warn"})
        srv.wait_ready()
        harness.create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                                "deploy_port": 8001})
        harness.upload_config(srv, harness.wallaby_config())
        harness.ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
        st, row, _, _ = srv.request("POST", harness.V2 + "/executions", {
            "project_module": "wallaby_hires", "archive_name": "casda",
            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
        if st not in (200, 201):
            sys.exit(f"bench_http: creating the execution failed: {st} {row}")
        path = f"{harness.V2}/executions/{row['uuid']}"
        st, _, _, body = srv.request("GET", path)
        # nginx serves exactly the bytes beampipe answers.
        os.makedirs(os.path.join(work, "www"), exist_ok=True)
        os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
        with open(os.path.join(work, "www", "execution.json"), "w") as f:
            f.write(body)
        os.chmod(os.path.join(work, "www", "execution.json"), 0o644)
        port = harness.free_port()
        with open(nginx_conf, "w") as f:
            f.write(NGINX_CONF.format(workers=1, run=work, port=port))
        lua = os.path.join(work, "report.lua")
        with open(lua, "w") as f:
            f.write(LUA)
        result("ctx.http.execution", "response_bytes", len(body.encode()), "B")
        result("ctx.http", "beampipe_api_threads", args.api_threads, "threads")
        auth = "Authorization: Bearer " + srv.token
        nginx_runs, beampipe_runs = [], []
        for i in range(args.rounds):
            subprocess.run(["nginx", "-q", "-c", nginx_conf, "-p", work + "/"], check=True)
            try:
                wait_port(port)
                s = wrk(f"http://127.0.0.1:{port}/execution.json", args.seconds, lua)
            finally:
                subprocess.run(["nginx", "-c", nginx_conf, "-p", work + "/", "-s", "quit"], check=False)
            report(f"http.nginx.w1.execution.r{i}", s)
            nginx_runs.append(s)
            s = wrk(f"http://127.0.0.1:{srv.port}{path}", args.seconds, lua, headers=(auth,))
            report(f"http.beampipe.execution.r{i}", s)
            beampipe_runs.append(s)
        rps = median([b["rps"] / n["rps"] for b, n in zip(beampipe_runs, nginx_runs)])
        p99 = median([b["p99_ms"] / n["p99_ms"] for b, n in zip(beampipe_runs, nginx_runs)])
        print(f"RATIO beampipe GET /executions/{{id}} / nginx req/s   {rps:.2f}x  (goal >= 0.7x)")
        print(f"RATIO beampipe GET /executions/{{id}} / nginx p99     {p99:.2f}x  (goal <= 1.5x)")
        errors = sum(b["errors"] for b in beampipe_runs)
        if errors:
            print(f"WARNING beampipe answered {errors} requests with an error or not at all")
    finally:
        if srv:
            srv.stop()
        subprocess.run(["nginx", "-c", nginx_conf, "-p", work + "/", "-s", "quit"], check=False,
                       capture_output=True)
        subprocess.run([test_pg, "down", pg_dir], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def wait_port(port, timeout=10):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


if __name__ == "__main__":
    main()
