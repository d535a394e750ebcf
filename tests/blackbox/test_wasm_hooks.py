"""WebAssembly hooks that run (issue #25, spec §5.9), end to end with real modules built from
tests/wasm: a project's prepare_metadata hook filters what discovery stores (and is signed),
its manifest hook adds a field seen in a dry run's manifest and in POST /graphs/prepare; the
events, the ledger row, time travel, the run diff and the provenance timeline say which module
and hook ran, for how long and whether it fell back. A failing prepare_metadata hook falls back
to the declarative records (recorded); a manifest hook that loops past the time limit fails the
execute with "wasm error: …"; two executions run their hooks at the same time."""
import os

from harness import Checks, Server, create_profile, read_events, upload_config, wait_execution, wait_for

V2 = "/api/v2"
WASM = {"Content-Type": "application/wasm"}
WASM_DIR = os.environ.get("BEAMPIPE_TEST_WASM_DIR") or os.path.join(
    os.path.dirname(os.environ["BEAMPIPE_BIN"]), "tests", "wasm")
SOURCES = ["HIPASSJ1313-15", "HIPASSJ1318-21"]

CONFIG = """apiVersion: beampipe.dev/v1
kind: ProjectConfig
metadata:
  id: hooked_survey
  description: A survey whose module filters records and adds to the manifest
definitions:
  transforms:
    digits:
      kind: extract_digits
    beam00:
      kind: regex_extract
      pattern: "(beam00)"
    present:
      kind: is_present
    marked:
      kind: chain
      steps: [beam00, present]
adapters:
  required: [casda]
discovery:
  queries:
    - name: visibility
      adapter: casda
      template: |
        SELECT o.* FROM ivoa.obscore o
        WHERE o.filename LIKE '{source_identifier}%'
  prepare_metadata:
    field_map:
      sbid:
        from: obs_id
        transform: digits
      dataset_id:
        from: filename
      keep:
        from: filename
        transform: marked
manifest:
  group_by: [source_identifier]
  source_template:
    source_identifier: "{source_identifier}"
graph_patches:
  - match:
      kind: node_name
      equals: beampipe-ingest
    set:
      manifest_path: manifest.json
automation:
  execution:
    max_sources_per_execution: 5
extension:
  hooks: [HOOKS]
"""


def module(name):
    with open(os.path.join(WASM_DIR, name + ".wasm"), "rb") as f:
        return f.read()


def config(hooks, pinned=None):
    text = CONFIG.replace("HOOKS", ", ".join(hooks))
    if pinned:
        text += f"  wasm_sha256: \"{pinned}\"\n"
    return text


c = Checks()
# A short time limit, so the looping module is stopped quickly.
srv = Server(extra_env={"BEAMPIPE_WASM_TIMEOUT_MS": "500"})
try:
    def post(path, body):
        return srv.request("POST", V2 + path, body)

    def upload(name):
        st, row, _, _ = srv.request("POST", V2 + "/project-configs/hooked_survey/wasm", raw_body=module(name),
                                    headers=WASM)
        assert st == 201, (st, row)
        return row["wasm_sha256"]

    def discover(idents):
        """Discovers the sources; returns their rows once every request has its answer."""
        post("/sources/discover", {"project_module": "hooked_survey", "source_identifiers": idents})

        def settled():
            rows = [srv.request("GET", f"{V2}/sources/{uuids[i]}")[1] for i in idents]
            return rows if all(r["discovery_request_id"] is None and r["last_checked_at"] for r in rows) else None
        return wait_for("discovery", settled)

    def completed_events(ident, after):
        return [e for e in read_events(srv, after) if e["type"] == "DiscoveryCompleted"
                and e["data"]["source_identifier"] == ident]

    def head():
        evs = read_events(srv)
        return evs[-1]["position"] if evs else 0

    upload_config(srv, config(["prepare_metadata", "manifest"]))
    sha = upload("survey_hooks")
    uuids = {}
    for ident in SOURCES:
        st, row, _, _ = post("/sources", {"project_module": "hooked_survey", "source_identifier": ident,
                                          "enabled": True})
        uuids[ident] = row["uuid"]

    # --- prepare_metadata keeps the records marked "keep": beam 00 of each SBID
    start = head()
    discover(SOURCES)
    st, md, _, _ = srv.request("GET", f"{V2}/sources/{uuids['HIPASSJ1313-15']}/metadata")
    datasets = [d for m in md["metadata"] for d in m["metadata_json"]["datasets"]]
    c.true("discovery stored records", len(datasets) > 0)
    c.eq("only the records the hook kept", sorted({"beam00" in d["dataset_id"] for d in datasets}), [True])
    c.eq("one record per SBID", len(datasets), len(md["metadata"]))
    ev = completed_events("HIPASSJ1313-15", start)
    c.eq("one discovery answer", len(ev), 1)
    hooks = ev[0]["data"].get("wasm_hooks") or []
    c.eq("the event names the module and the hook",
         [(h["module_sha256"], h["hook"], h["fell_back"], h["error"]) for h in hooks],
         [(sha, "prepare_metadata", False, None)])
    c.true("with its duration", isinstance(hooks[0]["duration_ms"], int) and hooks[0]["duration_ms"] >= 0)
    st, timeline, _, _ = srv.request("GET", f"{V2}/sources/{uuids['HIPASSJ1313-15']}/events")
    changed = [e for e in timeline if e["event_type"] == "discovery.changed"]
    c.true("the provenance timeline shows the hook",
           bool(changed) and changed[0]["payload"].get("wasm_hooks", [{}])[0].get("module_sha256") == sha)
    signature_filtered = srv.request("GET", f"{V2}/sources/{uuids['HIPASSJ1313-15']}")[1]["discovery_signature"]

    # --- the manifest hook adds a field: POST /graphs/prepare and a dry run's manifest
    st, prep, _, _ = post("/graphs/prepare", {"project_module": "hooked_survey", "source_identifiers": SOURCES[:1]})
    c.eq("prepare runs the manifest hook", (st, prep.get("manifest", {}).get("hook_added")), (200, True))
    c.eq("prepare names the hook", [(h["hook"], h["module_sha256"]) for h in prep.get("wasm_hooks", [])],
         [("manifest", sha)])
    create_profile(srv, "hooked-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                   module="hooked_survey")
    base = {"project_module": "hooked_survey", "archive_name": "casda"}

    def dry_run(idents):
        st, ex, _, _ = post("/executions", dict(base, sources=[{"source_identifier": i} for i in idents]))
        assert st == 201, (st, ex)
        st, _, _, _ = post(f"/executions/{ex['uuid']}/execute", {"do_stage": False, "do_submit": False})
        assert st == 202, st
        return ex["uuid"]

    first = dry_run(SOURCES[:1])
    row = wait_execution(srv, first, lambda r: r["status"] in ("not_submitted", "failed"))
    c.eq("the dry run ends not_submitted", (row["status"], row["last_error"]), ("not_submitted", None))
    st, manifest, _, _ = srv.request("GET", f"{V2}/executions/{first}/artifacts/manifest")
    c.eq("the dry run's manifest has the hook's field", manifest.get("hook_added"), True)
    c.eq("and the project's graph patches after it", "graph_overrides" in manifest, True)
    c.eq("the ledger row names the hook", [(h["hook"], h["module_sha256"], h["error"]) for h in row["wasm_hooks"] or []],
         [("manifest", sha, None)])

    # Time travel: before the manifest was prepared no hook had run; after it, the row says which.
    st, hist, _, _ = srv.request("GET", f"{V2}/executions/{first}/history")
    steps = hist["steps"]
    prepared = next(i for i, s in enumerate(steps) if s["type"] == "ExecutionManifestPrepared")
    st, then, _, _ = srv.request("GET", f"{V2}/executions/{first}?as_of_position={steps[prepared - 1]['position']}")
    c.eq("as of before the manifest: no hooks", (st, then["wasm_hooks"]), (200, None))
    st, then, _, _ = srv.request("GET", f"{V2}/executions/{first}?as_of_position={steps[prepared]['position']}")
    c.eq("as of the manifest: the hook", [h["hook"] for h in then["wasm_hooks"]], ["manifest"])
    c.eq("the history step says so too", [h["hook"] for h in steps[prepared]["state"]["wasm_hooks"]], ["manifest"])
    st, run_events, _, _ = srv.request("GET", f"{V2}/executions/{first}/events")
    c.true("the provenance timeline of the run shows the hook",
           any(e["event_type"] == "execution.wasm_hooks_ran" for e in run_events))

    # --- two executions run their hooks at the same time, each with its own result
    a, b = dry_run(SOURCES[:1]), dry_run(SOURCES[1:])
    rows = [wait_execution(srv, x, lambda r: r["status"] in ("not_submitted", "failed")) for x in (a, b)]
    c.eq("both concurrent runs ended not_submitted", [r["status"] for r in rows], ["not_submitted"] * 2)
    for x, ident in ((a, SOURCES[0]), (b, SOURCES[1])):
        m = srv.request("GET", f"{V2}/executions/{x}/artifacts/manifest")[1]
        c.eq(f"{ident}: its own manifest, hooked",
             (m.get("hook_added"), [s.get("source_identifier") for s in m.get("sources", [])]), (True, [ident]))

    # --- a prepare_metadata hook that never returns: stopped at the time limit, the declarative
    # records are kept, and the fallback is recorded
    loop = upload("loop")
    upload_config(srv, config(["prepare_metadata"], pinned=loop))
    start = head()
    discover(SOURCES[:1])
    ev = completed_events("HIPASSJ1313-15", start)
    hooks = ev[0]["data"].get("wasm_hooks") or []
    c.eq("the pinned module ran and fell back", [(h["module_sha256"], h["hook"], h["fell_back"]) for h in hooks],
         [(loop, "prepare_metadata", True)])
    c.true("with its error", "500 ms" in (hooks[0]["error"] or ""))
    c.true("and a warning", any("declarative records are kept" in w for w in ev[0]["data"]["warnings"]))
    st, md, _, _ = srv.request("GET", f"{V2}/sources/{uuids['HIPASSJ1313-15']}/metadata")
    datasets = [d for m in md["metadata"] for d in m["metadata_json"]["datasets"]]
    c.true("every declarative record is stored", len(datasets) > len(md["metadata"]) > 0)
    src = srv.request("GET", f"{V2}/sources/{uuids['HIPASSJ1313-15']}")[1]
    c.true("and signed", src["discovery_signature"] != signature_filtered)

    # --- a manifest hook that never returns: stopped at the time limit, the execute fails
    upload_config(srv, config(["manifest"], pinned=loop))
    failing = dry_run(SOURCES[:1])
    row = wait_execution(srv, failing, lambda r: r["status"] in ("not_submitted", "failed"))
    c.eq("the execute failed", row["status"], "failed")
    c.true("with a wasm error naming the time limit",
           row["last_error"].startswith("wasm error: ") and "500 ms" in row["last_error"])
    c.eq("the failing hook is recorded", [(h["hook"], h["module_sha256"], h["error"] is not None)
                                          for h in row["wasm_hooks"] or []], [("manifest", loop, True)])

    # --- the diff of a hooked run and a failed one says which hooks differ
    st, d, _, _ = srv.request("GET", f"{V2}/executions/{first}/diff/{failing}")
    c.eq("the diff shows the hooks", (st, d["wasm_hooks"]["same"],
                                      [h["module_sha256"] for h in d["wasm_hooks"]["a"]],
                                      [h["module_sha256"] for h in d["wasm_hooks"]["b"]]),
         (200, False, [sha], [loop]))
    st, d, _, _ = srv.request("GET", f"{V2}/executions/{a}/diff/{first}")
    c.eq("two runs of the same module: the same hooks", d["wasm_hooks"]["same"], True)

    # --- listed hooks without an uploaded module: nothing runs (§5.9)
    upload_config(srv, config(["manifest"], pinned="f" * 64))
    plain = dry_run(SOURCES[:1])
    row = wait_execution(srv, plain, lambda r: r["status"] in ("not_submitted", "failed"))
    c.eq("no module, no hook", (row["status"], row["wasm_hooks"]), ("not_submitted", None))
finally:
    srv.stop()
c.finish()
