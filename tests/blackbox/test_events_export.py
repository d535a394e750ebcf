"""`beampipe events export` and `import` (issue #18, portable history): the whole store as JSON
lines in exactly the /api/v2/events feed's shape, written complete or not at all, with
--artifacts every content-addressed artifact under its digest with an index; imported into a
fresh store it gives the same feed and the same answers, importing again adds nothing, and a
conflicting event refuses the whole import."""
import hashlib
import json
import os
import subprocess
import tempfile

from harness import (ADMIN_PASSWORD, ADMIN_USERNAME, Checks, Server, create_profile, fresh_database, read_events,
                     ready_sources, test_graph, upload_config,
                     wait_execution, wallaby_config)

V2 = "/api/v2"
BIN = os.environ["BEAMPIPE_BIN"]
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0",
       "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
c = Checks()
tmp = tempfile.mkdtemp(prefix="beampipe-export-")
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def cli(database, *args):
    env = dict(os.environ, DATABASE_URL=database)
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=120)


def export(*args):
    return cli(db, "events", "export", *args)


try:
    upload_config(srv, wallaby_config(test_graph(tmp)))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "sim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    st, ex, _, _ = srv.request("POST", V2 + "/executions", {"project_module": "wallaby_hires", "archive_name": "casda",
                                                            "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    srv.request("POST", f"{V2}/executions/{ex['uuid']}/execute", {"do_stage": False, "do_submit": False})
    wait_execution(srv, ex["uuid"], lambda r: r["status"] == "not_submitted" and r["sources_finalized"])

    # /sources is another read-model group than the execution just read: wait for what it showed.
    answers = {path: srv.request("GET", V2 + path + ("?min_position=%d" % srv.seen_position
                                                     if path == "/sources" else ""))[1]
               for path in [f"/executions/{ex['uuid']}", f"/executions/{ex['uuid']}/events", "/sources"]}
    out, arts = os.path.join(tmp, "store.jsonl"), os.path.join(tmp, "artifacts")
    p = export("-o", out, "--artifacts", arts)
    c.eq("export succeeds", (p.returncode, p.stderr.startswith("exported ")), (0, True))
    with open(out) as f:
        exported = [json.loads(line) for line in f]
    feed = [e for e in read_events(srv) if e["position"] <= exported[-1]["position"]]
    c.eq("exactly the feed, event for event, with each event's chain hash",
         [{k: v for k, v in e.items() if k != "hash"} for e in exported], feed)
    c.eq("the feed's fields and the hash", sorted(exported[0]),
         sorted(["position", "event_id", "stream_id", "stream_type", "stream_version", "type", "schema_version",
                 "data", "metadata", "recorded_at", "hash"]))
    c.true("every hash is 64 hex digits", all(len(e["hash"]) == 64 and int(e["hash"], 16) >= 0 for e in exported))
    c.true("no partial file left", not os.path.exists(out + ".partial"))

    with open(os.path.join(arts, "index.jsonl")) as f:
        index = [json.loads(line) for line in f]
    named = {a["sha256"] for e in exported for a in e["data"].get("artifacts", [])}
    c.true(f"every artifact an event names is exported ({len(named)})",
           named and named <= {i["sha256"] for i in index})
    ok = True
    for i in index:
        with open(os.path.join(arts, i["sha256"]), "rb") as f:
            blob = f.read()
        ok = ok and hashlib.sha256(blob).hexdigest() == i["sha256"] and len(blob) == i["size_bytes"]
    c.true("each artifact's bytes match its digest and size", ok and bool(index))

    p = export("-o", "/proc/beampipe-cannot-write/x.jsonl")
    c.true("an unwritable target fails with a message", p.returncode != 0 and "cannot write" in p.stderr)

    # Import into a fresh store: the same feed and the same answers.
    srv.stop()
    db2 = fresh_database()
    p = cli(db2, "events", "import", out, "--artifacts", arts)
    c.eq("import succeeds", (p.returncode, f"imported {len(exported)} of {len(exported)} events" in p.stdout),
         (0, True))
    c.true(f"every hash the export carries was checked ({p.stdout.strip()})",
           f"{len(exported)} hashes checked" in p.stdout)
    p = cli(db2, "events", "import", out, "--artifacts", arts)
    c.eq("importing again adds nothing", (p.returncode, f"imported 0 of {len(exported)} events" in p.stdout),
         (0, True))
    bad = os.path.join(tmp, "conflict.jsonl")
    with open(bad, "w") as f:
        for i, e in enumerate(exported):
            if i == len(exported) // 2:
                e = dict(e, data=dict(e["data"], tampered=True))
            f.write(json.dumps(e) + "\n")
    p = cli(db2, "events", "import", bad)
    c.true("a conflicting event refuses the import, naming its line",
           p.returncode != 0 and f"line {len(exported) // 2 + 1}:" in p.stderr and "conflicts" in p.stderr)
    # Exports carry hashes (#22): an export altered after it was written is refused by a store
    # that never saw it, at the altered line; an export without hashes (earlier builds) loads.
    def write_lines(name, lines):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            for e in lines:
                f.write(json.dumps(e) + "\n")
        return path

    k = len(exported) // 2
    altered = [dict(e, data=dict(e["data"], tampered=True)) if i == k else e for i, e in enumerate(exported)]
    p = cli(fresh_database(), "events", "import", write_lines("altered.jsonl", altered))
    c.true("an altered event is refused by its hash, naming its line",
           p.returncode != 0 and f"line {k + 1}:" in p.stderr and "hash does not match" in p.stderr)
    forged = [dict(e, hash="0" * 64) if i == k else e for i, e in enumerate(exported)]
    p = cli(fresh_database(), "events", "import", write_lines("forged.jsonl", forged))
    c.true("a forged hash is refused, naming its line",
           p.returncode != 0 and f"line {k + 1}:" in p.stderr and "hash does not match" in p.stderr)
    bad_hash = [dict(e, hash="xyz") if i == 0 else e for i, e in enumerate(exported)]
    p = cli(fresh_database(), "events", "import", write_lines("bad-hash.jsonl", bad_hash))
    c.true("a malformed hash is refused by name", p.returncode != 0 and "line 1: 'hash'" in p.stderr)
    db3 = fresh_database()
    p = cli(db3, "events", "import", write_lines("unhashed.jsonl",
                                                 [{k2: v for k2, v in e.items() if k2 != "hash"} for e in exported]))
    c.eq("an export without hashes loads (nothing to check)",
         (p.returncode, "0 hashes checked" in p.stdout), (0, True))
    p = cli(db3, "events", "import", out)
    c.true("and its hashes then match the exported ones", p.returncode == 0 and
           f"{len(exported)} hashes checked" in p.stdout)
    # Passwords are never in the history (operational state): the operator sets them again.
    secret = os.path.join(tmp, "password")
    with open(secret, "w") as f:
        f.write(ADMIN_PASSWORD)
    p = cli(db2, "admin", "set-password", "--username", ADMIN_USERNAME, "--password-file", secret)
    c.eq("the imported user gets a password", p.returncode, 0)
    srv2 = Server(conninfo=db2, extra_env=ENV)
    srv2.wait_ready()
    try:
        feed2 = read_events(srv2)
        c.eq("the imported store's feed is the exported one", feed2[:len(exported)],
             [{k2: v for k2, v in e.items() if k2 != "hash"} for e in exported])
        for path in [f"/executions/{ex['uuid']}", f"/executions/{ex['uuid']}/events", "/sources"]:
            before = answers[path]
            after_ = srv2.request("GET", V2 + path)[1]
            c.eq(f"GET {path} answers the same", after_, before)
        st, _, hdrs, raw = srv2.request("GET", f"{V2}/executions/{ex['uuid']}/artifacts/manifest")
        c.eq("artifacts came along", (st, hashlib.sha256(raw.encode()).hexdigest() in named), (200, True))
    finally:
        srv2.stop()
finally:
    srv.stop()
c.finish()
