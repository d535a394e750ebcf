#!/usr/bin/env python3
"""Pipeline benchmark: the scheduler tick over many sources, and sources end to end, measured side
by side with raw PostgreSQL in one run on a private cluster (scripts/test-pg; fsync on,
synchronous_commit on). Python standard library only; it reuses tests/blackbox/harness.py to start
`beampipe serve` against a fresh database of that cluster and to speak HTTP to it.

Prints lines in the format of bench/bench_store.cpp:  RESULT <name> <metric> <value> <unit>
(tab separated), plus ratios against the baselines measured in the same run.

1. tick — time per scheduler tick over --tick-sources (default 100,000) registered sources.
   The sources are registered through POST /api/v2/sources/bulk (1,000 items per request, a few
   requests in parallel) while no project config is active, so the scheduler has nothing to do
   during registration. Then a deployment profile and the project config are posted with the
   automation policy exactly as config/reference/wallaby_hires.v1.yaml ships it (discovery and
   execution automation on), under the default BEAMPIPE_SHAPING_* caps, with
   BEAMPIPE_SCHEDULER_INTERVAL_SECONDS=1. From then on every tick sees all sources due.
   What is measured: the duration of one tick as the elected scheduler runs it, i.e. from the
   scheduler's lease renewal that starts the loop iteration (the tick follows it at once and the
   lease is not renewed again until the tick is over; a trigger the benchmark adds to the `leases`
   table of its own database logs each renewal's clock_timestamp()) to the recorded_at of the
   SchedulerTicked event the tick appends. That covers everything actors/scheduler_tick.cpp does:
   waiting for the read models to apply the previous tick's writes, reading all sources of the
   project, deciding admission, sending the discovery requests and the execution admissions one
   by one, and the start of the SchedulerTicked append. It is split into
   scan (tick start -> first DiscoveryRequested of the tick: the wait for the read models, the
   config read, the SELECT of all sources, the due/admission decision), enqueue (first -> last
   request) and rest (last request -> SchedulerTicked: mainly the execution half of the tick).
   Also printed: the bulk registration throughput.
   Baseline: the same SELECT the discovery half of the tick runs over source_registry, timed
   through psql (COPY ... TO STDOUT, best of 5, minus a trivial psql run).

2. e2e — --sources (default 10,000) sources registered -> discovered -> executed -> completed,
   unattended: the elected scheduler requests discovery and admits executions, the discovery
   worker queries the simulated archive (no TAP URL), the execution worker runs them on the
   simulated DALiuGE DIM (no real backend; a `rest_remote` deployment profile), all in one
   `beampipe serve` process. Wall time from the first bulk registration request until every
   source has an execution with status `completed`: progress is followed through the event log
   every 0.5 s (so the wall time is up to ~0.5 s late) and the end is confirmed on the read model
   (batch_execution_record). Afterwards the events table gives when each step finished (all
   discovered / created / submitted / completed, seconds after the first registration), the
   rates of each step, every tick's duration and what it admitted, and /proc gives the CPU
   seconds of beampipe, of this cluster's PostgreSQL processes and of anything else (other jobs
   on the machine distort the result: look at cpu_other_s). --pg-stats also logs the top
   statements (pg_stat_statements).
   The simulated archive only has rows for the bundled WALLABY sources HIPASSJ1313-15 and
   HIPASSJ1318-21 (src/archive/simulated.cpp: fixed tables, LIKE prefix / equality matching);
   any other identifier would be discovered with no datasets and never become ready. The
   benchmark therefore registers identifiers "B000001:HIPASSJ1313-15", "B000002:HIPASSJ1318-21",
   ... and uses the reference WALLABY config with one change to its source identity: the archive
   queries use a template variable `archive_source` (split_last on ':') instead of the full
   identifier, so every source gets the full discovery (10 visibilities, 2 SBIDs, evaluation
   files, the HIPASS catalogue row), its own signature and its own manifest.
   Operator tuning (as env/config, all printed): simulated run 1 s (--run-ms), DIM poll 200 ms,
   execution scan 100 ms, worker / discovery concurrency 16, scheduler interval 1 s, and caps
   raised so that up to --in-flight runs (default 500) are in flight and discovery is not
   throttled (batch_size 100, no practical per-tick/in-flight batch limit, queue depth 10^6).

3. raw — the same number of events the e2e run recorded (count(*) of its events table), appended
   as raw single-row INSERT transactions (autocommit, one row each) into a plain table shaped like
   bench_store's raw_events, from 4 concurrent psql connections over the unix socket, with
   payloads of the e2e run's average data/metadata size; the e2e/raw ratio is printed.

Usage: bench/bench_pipeline.py [--sources N] [--tick-sources N] [--bin PATH] [--skip-tick]
       [--skip-e2e] [--ticks K] [--run-ms MS] [--in-flight N] [--pg-stats] [--keep] (see --help)
       quick check: bench/bench_pipeline.py --sources 500 --tick-sources 2000
The binary is --bin, else $BEAMPIPE_BIN, else build/beampipe (what scripts/build makes).
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.dont_write_bytecode = True  # leave no __pycache__ in tests/
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))
import harness  # noqa: E402  (needs BEAMPIPE_TEST_PG_DIR / BEAMPIPE_BIN only when used)

PSQL = "/usr/lib/postgresql/15/bin/psql"
V2 = "/api/v2"
MODULE = "wallaby_hires"
GRAPH = os.path.join(ROOT, "config", "reference", "graphs", "wallaby-hires_deploy-setonix-beampipe.graph")
BUNDLED = ["HIPASSJ1313-15", "HIPASSJ1318-21"]


def result(name, metric, value, unit):
    print(f"RESULT\t{name}\t{metric}\t{value:.3f}\t{unit}", flush=True)


def log(msg):
    print(f"[bench_pipeline {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def psql(conninfo, sql, timeout=600):
    r = subprocess.run([PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}\n{sql}")
    return r.stdout.strip()


def rows(conninfo, sql):
    out = psql(conninfo, sql)
    return [line.split("|") for line in out.splitlines()] if out else []


TOKENS = {}  # port -> the harness superuser's access token


def call(port, method, path, body=None, timeout=600, raw=None, ctype="application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": ctype} if data is not None else {}
    if port in TOKENS:
        headers["Authorization"] = "Bearer " + TOKENS[port]
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return resp.status, parsed


# ----------------------------------------------------------------------------- project config

def bench_config(automation=None):
    """The reference WALLABY config, graph from the local file (sha pinned), archive queries keyed
    on the part of the identifier after the last ':' (see the header). automation=None keeps the
    reference automation policy, otherwise it replaces the whole automation section."""
    text = harness.wallaby_config(GRAPH)

    def sub(old, new, count=1):
        nonlocal text
        if text.count(old) != count:
            raise RuntimeError(f"reference config changed: expected {count}x {old!r}")
        text = text.replace(old, new)

    sub("    trim:\n      kind: trim\n",
        "    trim:\n      kind: trim\n"
        "    bench_archive_source:\n      kind: split_last\n      separators: [\":\"]\n"
        "    bench_source_name:\n      kind: chain\n      steps: [bench_archive_source, hipass_source_name]\n")
    sub("    source_name:\n      transform: hipass_source_name\n",
        "    source_name:\n      transform: bench_source_name\n"
        "    archive_source:\n      transform: bench_archive_source\n")
    sub("LIKE '{source_identifier}%'", "LIKE '{archive_source}%'", 2)
    # Automated runs go to the simulated DIM profile the benchmark creates.
    sub("deployment_profile_name: slurm-remote", "deployment_profile_name: sim-dim")
    if automation is not None:
        i = text.index("\nautomation:\n")
        text = text[:i + 1] + automation
    return text


def e2e_automation(n, in_flight):
    return f"""automation:
  execution:
    enabled: true
    archive_name: casda
    max_sources_per_execution: 1
    tick_execution_source_limit: {n}
    tick_execution_run_limit: {in_flight}
    min_sources_to_trigger: 1
    max_wait_minutes: 1440
    claim_ttl_minutes: 180
    concurrent_execution_run_limit: {in_flight}
    deployment_profile_name: sim-dim
  discovery:
    enabled: true
    tick_discovery_source_limit: {n}
    batch_size: 100
    tick_discovery_batch_limit: 100000
    concurrent_discovery_batch_limit: 100000
    stale_after_hours: 24
"""


def identifiers(n):
    return [f"B{i:06d}:{BUNDLED[i % 2]}" for i in range(1, n + 1)]


# ----------------------------------------------------------------------------- helpers

def start_server(extra_env):
    env = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "",
           "BEAMPIPE_USE_REAL_BACKENDS": "false", "BEAMPIPE_LOG_LEVEL": "warn"}
    env.update(extra_env)
    srv = harness.Server(extra_env=env)
    TOKENS[srv.port] = srv.login()["access_token"]
    srv.wait_ready(timeout=120)
    return srv


def install_lease_log(conninfo):
    """Logs every renewal of the scheduler lease (the start of each scheduler loop iteration)."""
    psql(conninfo, """
CREATE TABLE IF NOT EXISTS bench_lease_log (id bigserial PRIMARY KEY, renewed_at timestamptz NOT NULL);
CREATE OR REPLACE FUNCTION bench_lease_log_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO bench_lease_log (renewed_at) VALUES (NEW.renewed_at); RETURN NEW; END $$;
DROP TRIGGER IF EXISTS bench_lease_log_trg ON leases;
CREATE TRIGGER bench_lease_log_trg AFTER INSERT OR UPDATE ON leases
  FOR EACH ROW WHEN (NEW.name = 'scheduler') EXECUTE FUNCTION bench_lease_log_fn();""")


def register(port, idents, clients=4, chunk=1000):
    """POST /sources/bulk in chunks, `clients` requests at a time. Returns seconds taken."""
    chunks = [idents[i:i + chunk] for i in range(0, len(idents), chunk)]
    errors, lock, it = [], threading.Lock(), iter(chunks)

    def worker():
        while True:
            with lock:
                part = next(it, None)
            if part is None or errors:
                return
            st, body = call(port, "POST", V2 + "/sources/bulk", {"items": [
                {"project_module": MODULE, "source_identifier": s, "enabled": True} for s in part]})
            if st != 200 or body.get("total") != len(part):
                errors.append(f"bulk register: {st} {str(body)[:300]}")

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return time.time() - t0


def setup_project(srv, config_text):
    harness.create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1",
                                            "deploy_port": 8001})
    st, body = call(srv.port, "POST", V2 + "/project-configs", raw=config_text.encode(),
                    ctype="application/yaml")
    if st not in (200, 201):
        raise RuntimeError(f"config upload failed: {st} {json.dumps(body)[:2000]}")


def tick_rows(conninfo, after_epoch=0.0):
    """[(start, end, data)] per SchedulerTicked whose start is after after_epoch (epoch seconds).
    A tick records how long it ran (duration_ms); it ended about when it was recorded. Binaries
    older than that field: the scheduler lease's last renewal before the record (which started
    each tick while renewal and tick were one loop; since they are separate timers it is not)."""
    out = []
    for start, end, data in rows(conninfo, f"""
SELECT extract(epoch FROM (SELECT max(l.renewed_at) FROM bench_lease_log l WHERE l.renewed_at <= e.recorded_at)),
       extract(epoch FROM e.recorded_at), e.data::text
FROM events e WHERE e.event_type = 'SchedulerTicked' ORDER BY e.position"""):
        d = json.loads(data)
        if isinstance(d.get("duration_ms"), int):
            start = float(end) - d["duration_ms"] / 1000
        if start and float(start) > after_epoch:
            out.append((float(start), float(end), d))
    return out


def cpu_seconds(pid=None):
    """CPU seconds (user+system) of one process, or of the whole machine (busy, all cores)."""
    tck = os.sysconf("SC_CLK_TCK")
    if pid is not None:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tck
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / tck  # everything but idle and iowait


def pg_cpu_seconds():
    """CPU seconds of this benchmark's PostgreSQL cluster: its live processes (recognised by their
    cwd, the data directory) plus what the postmaster has reaped from exited backends."""
    d = os.environ["BEAMPIPE_TEST_PG_DIR"]
    data = os.path.realpath(os.path.join(d, "cluster", "data") if os.path.islink(os.path.join(d, "cluster"))
                            else os.path.join(d, "data"))
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{p}/cwd") != data:
                continue
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tck
        if fields[1] == "1" or not os.path.exists(f"/proc/{fields[1]}/cwd") or \
                os.readlink(f"/proc/{fields[1]}/cwd") != data:  # the postmaster: add reaped children
            total += (int(fields[13]) + int(fields[14])) / tck
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


# ----------------------------------------------------------------------------- 1. tick

def bench_tick(args):
    n = args.tick_sources
    log(f"tick: registering {n} sources (no config active yet)")
    srv = start_server({"BEAMPIPE_SCHEDULER_ENABLED": "true", "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1"})
    ci = srv.conninfo
    try:
        install_lease_log(ci)
        rss0 = rss_kib(srv.proc.pid)
        reg_s = register(srv.port, identifiers(n), clients=args.clients)
        result("tick", "register_sources_per_s", n / reg_s, "sources/s")
        result("tick", "register_s", reg_s, "s")
        # Baseline: the same number of events appended raw, 1,000 per transaction (what a bulk
        # request is), from as many connections as there were clients.
        ev = rows(ci, "SELECT avg(octet_length(data::text)), avg(octet_length(metadata::text)) FROM events "
                      "WHERE event_type = 'SourceRegistered'")[0]
        raw_s = bench_raw(ci, n, int(float(ev[0])), int(float(ev[1])), args.clients, per_tx=1000)
        result("raw", "bulk_appends_s", raw_s, "s")
        result("ratio", "register_vs_raw_bulk_appends", reg_s / raw_s, "x")
        # Every registered source's aggregate is live now (they passivate after 5 idle minutes).
        rss_now = rss_kib(srv.proc.pid)
        live_kib = (rss_now - rss0) / n
        result("tick", "rss_process_mib", rss_now / 1024, "MiB")  # the whole process, n live
        row_bytes = float(psql(ci, "SELECT avg(pg_column_size(t.*)) FROM source_registry t"))
        result("tick", "rss_per_live_aggregate", live_kib * 1024, "bytes")
        result("tick", "source_registry_row", row_bytes, "bytes")
        result("ratio", "live_aggregate_vs_read_model_row", live_kib * 1024 / row_bytes, "x")
        log(f"tick: registered {n} in {reg_s:.1f} s; posting profile + config (reference automation)")
        setup_project(srv, bench_config())
        t_cfg = float(psql(ci, "SELECT extract(epoch FROM clock_timestamp())"))
        deadline = time.time() + args.ticks * 60 + 120
        ticks = []
        while time.time() < deadline:
            ticks = [t for t in tick_rows(ci, t_cfg) if "discovery" in t[2] and t[2]["discovery"]]
            if len(ticks) >= args.ticks:
                break
            time.sleep(0.5)
        if not ticks:
            raise RuntimeError("no scheduler tick after the config was posted")
        ticks = ticks[:args.ticks]
        # Phases inside each tick from the events it wrote.
        req = [(float(r[0])) for r in rows(ci, """
SELECT extract(epoch FROM recorded_at) FROM events WHERE event_type = 'DiscoveryRequested'
  AND data->>'reason' = 'scheduler' ORDER BY position""")]
        durs, scans, enq, rest, admitted, due = [], [], [], [], [], []
        for start, end, data in ticks:
            durs.append((end - start) * 1000)
            mine = [t for t in req if start <= t <= end]
            d = data["discovery"].get(MODULE, {})
            admitted.append(d.get("sources", 0))
            due.append(d.get("due", 0))
            if mine:
                scans.append((mine[0] - start) * 1000)
                enq.append((mine[-1] - mine[0]) * 1000)
                rest.append((end - mine[-1]) * 1000)
        for i, (start, end, data) in enumerate(ticks):
            d = data["discovery"].get(MODULE, {})
            x = data.get("execution", {}).get(MODULE, {})
            log(f"tick {i}: {(end - start) * 1000:.0f} ms, due {d.get('due')}, requested {d.get('sources')}, "
                f"queue {d.get('queue_depth')}, exec pending {x.get('pending')}, created {len(x.get('executions', []))}, "
                f"reasons d={d.get('reasons')} x={x.get('reasons')}")
        med = statistics.median(durs)
        result("tick", "sources", n, "sources")
        result("tick", "ticks_measured", len(durs), "ticks")
        result("tick", "tick_ms_first", durs[0], "ms")
        result("tick", "tick_ms_p50", med, "ms")
        result("tick", "tick_ms_p90", pct(durs, 90), "ms")
        result("tick", "tick_ms_max", max(durs), "ms")
        if scans:
            result("tick", "scan_ms_p50", statistics.median(scans), "ms")
            result("tick", "enqueue_ms_p50", statistics.median(enq), "ms")
            result("tick", "rest_ms_p50", statistics.median(rest), "ms")
        result("tick", "sources_admitted_per_tick_p50", statistics.median(admitted), "sources")
        result("tick", "due_sources_p50", statistics.median(due), "sources")
        # Baseline: the discovery half's SELECT, raw, through psql.
        scan_sql = ("COPY (SELECT source_identifier, enabled, to_json(created_at)#>>'{}', "
                    "to_json(last_checked_at)#>>'{}', CASE WHEN discovery_request_id IS NULL THEN NULL ELSE "
                    "to_json(discovery_requested_at + make_interval(mins => 180))#>>'{}' END "
                    f"FROM source_registry WHERE project_module = '{MODULE}' AND NOT deleted) TO STDOUT")

        def timed(sql):
            best = None
            for _ in range(5):
                t0 = time.perf_counter()
                psql(ci, sql)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            return best
        raw_ms = max(0.001, (timed(scan_sql) - timed("SELECT 1")) * 1000)
        result("tick", "raw_scan_ms", raw_ms, "ms")
        result("tick", "tick_p50_vs_raw_scan", med / raw_ms, "x")
    finally:
        srv.stop()
    return med


# ----------------------------------------------------------------------------- 2. e2e

def bench_e2e(args):
    n = args.sources
    env = {"BEAMPIPE_SCHEDULER_ENABLED": "true", "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1",
           "BEAMPIPE_SIMULATED_RUN_MS": str(args.run_ms), "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
           "BEAMPIPE_EXECUTION_SCAN_MS": "100", "BEAMPIPE_WORKER_CONCURRENCY": str(args.concurrency),
           "BEAMPIPE_DISCOVERY_SOURCE_CONCURRENCY": str(args.concurrency),
           "BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES": "100000",
           "BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS": str(args.in_flight),
           "BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH": "1000000"}
    log("e2e: operator settings " + " ".join(f"{k}={v}" for k, v in sorted(env.items())))
    srv = start_server(env)
    ci = srv.conninfo
    try:
        install_lease_log(ci)
        setup_project(srv, bench_config(e2e_automation(n, args.in_flight)))
        idents = identifiers(n)
        if args.pg_stats:
            psql(ci, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")
        log(f"e2e: registering {n} sources")
        cpu0_srv, cpu0_all, cpu0_me, cpu0_pg = cpu_seconds(srv.proc.pid), cpu_seconds(), time.process_time(), \
            pg_cpu_seconds()
        t0 = time.time()
        holder = {}
        reg = threading.Thread(target=lambda: holder.setdefault("s", register(srv.port, idents, clients=args.clients)))
        reg.start()
        # Progress is followed incrementally through the event log (a primary-key range per poll, so
        # the poll stays cheap on the same 2 cores; the window overlaps by 1,000 positions for
        # transactions that commit out of position order, and sets drop the duplicates). The end is
        # confirmed once against the read model: every source has a completed execution.
        every_source_sql = f"""SELECT count(DISTINCT s->>'source_identifier') FROM batch_execution_record x,
            jsonb_array_elements(x.sources) s WHERE x.project_module = '{MODULE}' AND x.status = 'completed'"""
        seen = {k: set() for k in ("SourceRegistered", "DiscoveryCompleted", "ExecutionCreated", "ExecutionFailed",
                                   "completed")}
        last_pos, last_log, last_progress, last_state = 0, 0, time.time(), None
        while True:
            head = int(psql(ci, "SELECT coalesce(max(position), 0) FROM events"))
            for typ, sid in rows(ci, f"""SELECT CASE WHEN event_type = 'ExecutionObserved' THEN 'completed'
                    ELSE event_type END, stream_id FROM events
                WHERE position > {max(0, last_pos - 1000)} AND position <= {head} AND (event_type IN
                  ('SourceRegistered', 'DiscoveryCompleted', 'ExecutionCreated', 'ExecutionFailed')
                  OR (event_type = 'ExecutionObserved' AND data->>'status' = 'completed'))"""):
                seen[typ].add(sid)
            last_pos = head
            st = [len(seen[k]) for k in ("SourceRegistered", "DiscoveryCompleted", "ExecutionCreated",
                                         "ExecutionFailed", "completed")]
            now = time.time()
            if st[4] >= n and int(psql(ci, every_source_sql)) >= n:
                break
            if st != last_state:
                last_state, last_progress = st, now
            if now - last_log >= 10:
                last_log = now
                log(f"e2e {now - t0:6.1f} s: registered {st[0]} discovered {st[1]} executions {st[2]} "
                    f"failed {st[3]} completed {st[4]}")
            if st[3] > 0 and not args.tolerate_failures:
                raise RuntimeError(f"{st[3]} executions failed: " + psql(
                    ci, f"SELECT last_error FROM batch_execution_record WHERE status = 'failed' LIMIT 3"))
            if now - last_progress > args.stall_s or now - t0 > args.timeout_s:
                raise RuntimeError(f"e2e made no progress (or timed out) at {st}")
            time.sleep(0.5)
        wall = time.time() - t0
        cpu_srv = cpu_seconds(srv.proc.pid) - cpu0_srv
        cpu_all = cpu_seconds() - cpu0_all
        cpu_me = time.process_time() - cpu0_me
        cpu_pg = pg_cpu_seconds() - cpu0_pg
        reg.join()
        reg_s = holder.get("s", float("nan"))
        # Phase times from the event log, relative to the first registration.
        phases = rows(ci, """
WITH t0 AS (SELECT min(recorded_at) AS t FROM events WHERE event_type = 'SourceRegistered')
SELECT event_type, count(*), extract(epoch FROM min(recorded_at) - (SELECT t FROM t0)),
       extract(epoch FROM max(recorded_at) - (SELECT t FROM t0))
FROM events GROUP BY event_type ORDER BY 4""")
        log("e2e: events by type (count, first s, last s after the first registration):")
        for typ, cnt, first, last in phases:
            log(f"   {typ:32s} {int(cnt):8d}  {float(first):8.2f}  {float(last):8.2f}")
        total_events = int(psql(ci, "SELECT count(*) FROM events"))
        sizes = rows(ci, "SELECT avg(octet_length(data::text)), avg(octet_length(metadata::text)) FROM events")[0]
        ticks = tick_rows(ci)
        tick_ms = [(e - s) * 1000 for s, e, d in ticks if d.get("discovery") or d.get("execution")]
        art = rows(ci, "SELECT count(*), coalesce(sum(octet_length(content)), 0) FROM artifact_blobs")[0] \
            if psql(ci, "SELECT to_regclass('artifact_blobs') IS NOT NULL") == "t" else None
        db_size = int(psql(ci, "SELECT pg_database_size(current_database())"))
        if args.pg_stats:
            log("e2e: top statements by total execution time (calls, total s, mean ms, rows):")
            for calls, tot, mean, nrows, *q in rows(ci, """SELECT calls, round((total_exec_time / 1000)::numeric, 2),
                    round(mean_exec_time::numeric, 3), rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
                FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY total_exec_time DESC LIMIT 15"""):
                log(f"   {int(calls):8d} {float(tot):8.2f} {float(mean):9.3f} {int(nrows):9d}  {'|'.join(q)}")
            # Per-statement overhead (parse, plan, round trip) is spread over many calls.
            calls, tot, plan = rows(ci, """SELECT sum(calls), round((sum(total_exec_time) / 1000)::numeric, 2),
                    round((sum(total_plan_time) / 1000)::numeric, 2) FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())""")[0]
            log(f"e2e: statements {int(calls)} calls, execution {tot} s, planning {plan} s")
            this_db = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            for title, seconds, order, limit in (("top statements by planning time (calls, planning s)",
                                                  "total_plan_time", "total_plan_time", 12),
                                                 ("most called (calls, execution s)", "total_exec_time", "calls", 30)):
                log(f"e2e: {title}:")
                for calls, tot, *q in rows(ci, f"""SELECT calls, round(({seconds} / 1000)::numeric, 2),
                        left(regexp_replace(query, '\\s+', ' ', 'g'), 120)
                    FROM pg_stat_statements WHERE {this_db} ORDER BY {order} DESC LIMIT {limit}"""):
                    log(f"   {int(calls):8d} {float(tot):8.2f}  {'|'.join(q)}")
        result("e2e", "sources", n, "sources")
        result("e2e", "wall_s", wall, "s")
        result("e2e", "sources_per_s", n / wall, "sources/s")
        result("e2e", "register_s", reg_s, "s")
        by_type = {t: (int(c), float(f), float(l)) for t, c, f, l in phases}
        for typ, metric in (("DiscoveryCompleted", "all_discovered_s"), ("ExecutionCreated", "all_created_s"),
                            ("SubmissionRecorded", "all_submitted_s")):
            if typ in by_type:
                result("e2e", metric, by_type[typ][2], "s")
        last_done = psql(ci, """SELECT extract(epoch FROM max(recorded_at) -
            (SELECT min(recorded_at) FROM events WHERE event_type = 'SourceRegistered'))
            FROM events WHERE event_type = 'ExecutionObserved' AND data->>'status' = 'completed'""")
        if last_done:
            result("e2e", "all_completed_event_s", float(last_done), "s")
        result("e2e", "events", total_events, "events")
        result("e2e", "events_per_source", total_events / n, "events")
        result("e2e", "avg_event_bytes", float(sizes[0]) + float(sizes[1]), "bytes")
        for typ, metric in (("DiscoveryCompleted", "discovered_per_s"), ("ExecutionCreated", "executions_created_per_s"),
                            ("SubmissionRecorded", "submitted_per_s")):
            if typ in by_type and by_type[typ][2] > by_type[typ][1]:
                c, f, l = by_type[typ]
                result("e2e", metric, c / (l - f), "per s")
        t_first = float(psql(ci, "SELECT extract(epoch FROM min(recorded_at)) FROM events "
                                 "WHERE event_type = 'SourceRegistered'"))
        for s, e, d in ticks:
            if not (d.get("discovery") or d.get("execution")):
                continue
            dd = d.get("discovery", {}).get(MODULE, {})
            xx = d.get("execution", {}).get(MODULE, {})
            log(f"e2e tick at {s - t_first:7.2f} s: {(e - s) * 1000:7.0f} ms, discovery requested {dd.get('sources')}, "
                f"executions created {len(xx.get('executions', []))} (pending {xx.get('pending')}), "
                f"reasons {dd.get('reasons')} {xx.get('reasons')}")
        if tick_ms:
            result("e2e", "tick_ms_p50", statistics.median(tick_ms), "ms")
            result("e2e", "tick_ms_max", max(tick_ms), "ms")
        if art:
            result("e2e", "artifact_mb", int(art[1]) / 1e6, "MB")
        result("e2e", "database_mb", db_size / 1e6, "MB")
        result("e2e", "cpu_beampipe_s", cpu_srv, "s")
        result("e2e", "cpu_postgres_s", cpu_pg, "s")
        # Anything else on the machine (the benchmark's psql polls, other jobs): should be small.
        result("e2e", "cpu_other_s", max(0.0, cpu_all - cpu_srv - cpu_pg - cpu_me), "s")
        result("e2e", "cpu_machine_busy", cpu_all / (wall * os.cpu_count()), "fraction")
        result("e2e", "goal_60s_met", 1.0 if wall < 60 else 0.0, "bool")
        return wall, total_events, float(sizes[0]), float(sizes[1]), ci
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- 3. raw appends

def bench_raw(conninfo, events, data_bytes, meta_bytes, clients=4, per_tx=1):
    """Seconds to append `events` rows of that size from `clients` connections, `per_tx` rows per
    transaction (one INSERT each)."""
    psql(conninfo, "CHECKPOINT")  # start clean: the e2e run's dirty buffers are not the baseline's cost
    psql(conninfo, """DROP TABLE IF EXISTS raw_events;
CREATE TABLE raw_events (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL,
  stream_version bigint NOT NULL, event_type text NOT NULL, data json NOT NULL, metadata json NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, stream_version))""")
    pad_d = max(0, int(data_bytes) - 12)
    pad_m = max(0, int(meta_bytes) - 12)
    per = [events // clients + (1 if i < events % clients else 0) for i in range(clients)]
    errors = []

    def worker(c, count):
        p = subprocess.Popen([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            buf = []
            if per_tx > 1:
                for i in range(0, count, per_tx):
                    buf.append(f"INSERT INTO raw_events (stream_id, stream_version, event_type, data, metadata) "
                               f"SELECT 'stream-{c}-' || g, 1, 'BenchEvent', json_build_object('n', repeat('x', {pad_d})), "
                               f"json_build_object('m', repeat('y', {pad_m})) "
                               f"FROM generate_series({i}, {min(count, i + per_tx) - 1}) g;\n")
                count = 0
            for i in range(count):
                # 10 events per stream, like a short aggregate stream; one row per transaction.
                buf.append(f"INSERT INTO raw_events (stream_id, stream_version, event_type, data, metadata) VALUES "
                           f"('stream-{c}-{i // 10}', {i % 10 + 1}, 'BenchEvent', "
                           f"json_build_object('n', repeat('x', {pad_d})), json_build_object('m', repeat('y', {pad_m})));\n")
                if len(buf) >= 500:
                    p.stdin.write("".join(buf))
                    buf = []
            p.stdin.write("".join(buf))
            p.stdin.close()
        except BrokenPipeError:
            pass
        if p.wait() != 0:
            errors.append(p.stderr.read())

    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(c, k)) for c, k in enumerate(per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.time() - t0
    if errors:
        raise RuntimeError("raw appends failed: " + errors[0])
    got = int(psql(conninfo, "SELECT count(*) FROM raw_events"))
    if got != events:
        raise RuntimeError(f"raw appends: {got} rows, wanted {events}")
    return dt


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=10000, help="sources in the end-to-end run")
    ap.add_argument("--tick-sources", type=int, default=100000, help="registered sources in the tick run")
    ap.add_argument("--ticks", type=int, default=10, help="ticks to measure")
    ap.add_argument("--bin", default=os.environ.get("BEAMPIPE_BIN") or os.path.join(ROOT, "build", "beampipe"))
    ap.add_argument("--run-ms", type=int, default=1000, help="BEAMPIPE_SIMULATED_RUN_MS for the e2e run")
    ap.add_argument("--in-flight", type=int, default=500, help="execution runs in flight (e2e caps)")
    ap.add_argument("--concurrency", type=int, default=16, help="worker and discovery concurrency (e2e)")
    ap.add_argument("--clients", type=int, default=4, help="parallel bulk registration requests")
    ap.add_argument("--raw-clients", type=int, default=4, help="connections of the raw append baseline")
    ap.add_argument("--timeout-s", type=float, default=3600)
    ap.add_argument("--stall-s", type=float, default=120, help="give up after this long without progress")
    ap.add_argument("--tolerate-failures", action="store_true", help="keep going when executions fail")
    ap.add_argument("--skip-tick", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--pg-dir", help="cluster folder (default: a temporary one, removed afterwards)")
    ap.add_argument("--pg-stats", action="store_true",
                    help="load pg_stat_statements and log the e2e run's top statements (adds a little overhead)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster running and its folder")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"bench_pipeline: no beampipe binary at {args.bin} (build it, or pass --bin)")
    os.environ["BEAMPIPE_BIN"] = os.path.abspath(args.bin)
    pg_dir = args.pg_dir or tempfile.mkdtemp(prefix="beampipe-bench-pg-")
    os.environ["BEAMPIPE_TEST_PG_DIR"] = pg_dir
    test_pg = os.path.join(ROOT, "scripts", "test-pg")
    log(f"binary {args.bin}; PostgreSQL cluster in {pg_dir}")
    subprocess.run([test_pg, "up", pg_dir], check=True)
    if args.pg_stats:
        ci0 = harness.cluster_conninfo()
        psql(ci0, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        subprocess.run([test_pg, "down", pg_dir], check=True)
        subprocess.run([test_pg, "up", pg_dir], check=True)
        psql(ci0, "ALTER SYSTEM SET pg_stat_statements.track_planning = on")
        psql(ci0, "SELECT pg_reload_conf()")
    with open("/proc/loadavg") as f:
        log(f"load average at start: {f.read().strip()} ({os.cpu_count()} cores)")
    try:
        if not args.skip_tick:
            bench_tick(args)
        if not args.skip_e2e:
            wall, events, dbytes, mbytes, ci = bench_e2e(args)
            log(f"raw: {events} single-row INSERT transactions from {args.raw_clients} connections")
            raw = bench_raw(ci, events, dbytes, mbytes, args.raw_clients)
            result("raw", "appends", events, "events")
            result("raw", "wall_s", raw, "s")
            result("raw", "appends_per_s", events / raw, "events/s")
            result("ratio", "e2e_wall_vs_raw_appends", wall / raw, "x")
    finally:
        if not args.keep:
            subprocess.run([test_pg, "down", pg_dir], check=False)
            if not args.pg_dir:
                shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
