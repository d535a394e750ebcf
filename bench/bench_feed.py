#!/usr/bin/env python3
"""The live event feed (GET /api/v2/events/stream, issue #20) against the raw read it is built
on: the same stored events read by paging GET /api/v2/events (1,000 per call, one client) as the
baseline, then by 1 and by 8 event streams from the start at once. Also how long after a bulk
write of 1,000 sources the last of 8 live streams has its last event.

Prints RESULT lines (as the other benches do) and RATIO lines: streamed events/s (all streams
together) over paged events/s.
"""
import argparse
import os
import socket
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))
import harness  # noqa: E402


def result(name, metric, value, unit):
    print(f"RESULT\t{name}\t{metric}\t{value}\t{unit}", flush=True)


def page_all(srv):
    n, after = 0, 0
    while True:
        st, body, _, _ = srv.request("GET", f"{harness.V2}/events?after={after}&limit=1000")
        evs = body["events"]
        if not evs:
            return n
        n += len(evs)
        after = body["next_after"]


def stream(port, token, query, want, done, started=None):
    """Reads until `want` events came (counted by their id lines, nothing parsed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall((f"GET {harness.V2}/events/stream?{query} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    seen, tail = 0, b""
    while seen < want:
        data = s.recv(1 << 16)
        if not data:
            break
        buf = tail + data
        seen += buf.count(b"\nid: ")
        tail = buf[-5:]
        if started is not None and b"event: ready" in buf:
            started.release()
            started = None
    s.close()
    done.append(seen)


def streams_at_once(srv, k, query, want, ready=False):
    done, threads = [], []
    started = threading.Semaphore(0) if ready else None
    for _ in range(k):
        t = threading.Thread(target=stream, args=(srv.port, srv.token, query, want, done, started))
        t.start()
        threads.append(t)
    if ready:
        for _ in range(k):
            started.acquire(timeout=30)
    return threads, done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "beampipe"))
    ap.add_argument("--sources", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.environ["BEAMPIPE_BIN"] = a.bin
    srv = harness.Server(extra_env={"BEAMPIPE_RATE_LIMIT_REQUESTS": "0",
                                    "BEAMPIPE_STREAM_BUFFER_BYTES": str(64 << 20)})
    try:
        srv.wait_ready()
        for b in range(0, a.sources, 1000):
            srv.request("POST", f"{harness.V2}/sources/bulk", {"items": [
                {"project_module": "wallaby_hires", "source_identifier": f"FEED_{i:06d}"}
                for i in range(b, min(b + 1000, a.sources))]})
        total = page_all(srv)
        result("feed", "events_stored", total, "events")
        for rnd in range(a.rounds):
            t0 = time.perf_counter()
            page_all(srv)
            raw = total / (time.perf_counter() - t0)
            result("feed", "paged_events_per_s", f"{raw:.0f}", "events/s")
            for k in (1, 8):
                t0 = time.perf_counter()
                threads, done = streams_at_once(srv, k, "after=0", total)
                for t in threads:
                    t.join()
                secs = time.perf_counter() - t0
                got = sum(done)
                result("feed", f"streamed_events_per_s_{k}_streams", f"{got / secs:.0f}", "events/s")
                print(f"RATIO round {rnd + 1}: {k} stream(s) from the start / paged read   "
                      f"{got / secs / raw:.2f}x  ({min(done)} of {total} events each)", flush=True)
        # Live: 8 streams from now, then a bulk write of 1,000 sources.
        threads, done = streams_at_once(srv, 8, "", 1000, ready=True)
        t0 = time.perf_counter()
        srv.request("POST", f"{harness.V2}/sources/bulk", {"items": [
            {"project_module": "wallaby_hires", "source_identifier": f"LIVE_{i:06d}"} for i in range(1000)]})
        wrote = time.perf_counter() - t0
        for t in threads:
            t.join()
        last = time.perf_counter() - t0
        result("feed", "bulk_write_1000_s", f"{wrote:.3f}", "s")
        result("feed", "last_of_8_live_streams_has_all_s", f"{last:.3f}", "s")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
