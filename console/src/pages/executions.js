import { api, query } from "../api.js";
import { append, badge, confirmDialog, errorBox, field, h, link, pre, section, select, table, when } from "../dom.js";
import { openFeed } from "../feed.js";
import { debounce, filterBar, pager } from "./common.js";

const STATUSES = ["pending", "running", "awaiting_scheduler", "not_submitted", "completed", "failed", "retrying", "cancelled"];
const TERMINAL = new Set(["completed", "failed", "cancelled", "not_submitted"]);
const AXES = [["Status", "status"], ["Submission", "submission_state"], ["Scheduler", "scheduler_state"],
  ["DALiuGE", "daliuge_state"], ["Outputs", "output_state"]];
const PER_PAGE = 50;

export function executionsPage(main, { params, go }) {
  const list = h("div", {}, "Loading…");
  const page = Number(params.get("page") || 1);
  main.append(h("h1", {}, "Executions"),
    filterBar(params, [["project_module", "Project module"], ["status", "Status", STATUSES], ["scheduler_name", "Scheduler"]],
      (q) => go("/console/executions?" + q)),
    list);
  const load = () => {
    const q = Object.fromEntries(params.entries());
    api("GET", "/executions" + query({ ...q, page, items_per_page: PER_PAGE })).then(({ data }) => {
      list.replaceChildren(table([
        ["Run", (x) => link("/console/executions/" + x.uuid, x.uuid)],
        ["Project", (x) => x.project_module],
        ["Sources", (x) => (x.sources || []).map((s) => s.source_identifier).join(", ")],
        ["Status", (x) => badge(x.status)],
        ["Created", (x) => when(x.created_at)],
        ["Updated", (x) => when(x.updated_at)]], data.items),
      pager((page - 1) * PER_PAGE, PER_PAGE, data.total, (p) => {
        params.set("page", p + 1);
        go("/console/executions?" + params);
      }));
    }).catch((e) => list.replaceChildren(errorBox(e)));
  };
  load();
  const feed = openFeed({ stream_type: "execution" }, debounce(load, 500));
  return () => feed.close();
}

function axes(state) {
  return h("dl", { class: "axes" }, AXES.map(([name, key]) =>
    h("div", { class: "axis" }, h("dt", {}, name), h("dd", { "data-axis": key }, badge(state[key])))));
}

const DIFF_PARTS = [["config", "Project config (YAML paths)"], ["profile", "Deployment profile"],
  ["sources", "Sources and signatures"], ["manifest", "Manifest (JSON Pointer paths)"],
  ["wasm_hooks", "WebAssembly hooks"], ["graph", "Patched graph"]];
// The hooks that built a manifest, one line: "manifest 1a2b3c4d5e6f (12 ms), …".
const hooksRan = (runs) => (Array.isArray(runs) && runs.length
  ? runs.map((r) => `${r.hook} ${String(r.module_sha256).slice(0, 12)}` +
    (r.duration_ms !== undefined ? ` (${r.duration_ms} ms)` : "") + (r.error ? " failed" : "")).join(", ")
  : "none");
const shown = (v) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
// A value in a diff cell: short ones inline, long ones (a whole manifest) folded.
const cellValue = (v) => {
  const text = shown(v);
  if (text.length <= 160) return h("code", {}, text);
  return h("details", {}, h("summary", {}, h("code", {}, text.slice(0, 80) + "…"), ` (${text.length} characters)`),
    pre(typeof v === "string" ? v : JSON.stringify(v, null, 2)));
};

// What differs from one run to another (GET /executions/{a}/diff/{b}), part by part.
function runDiff(d) {
  const parts = DIFF_PARTS.filter(([key]) => d[key]).map(([key, title]) => {
    const p = d[key];
    const body = [];
    if (key === "wasm_hooks" && !p.same)
      for (const side of ["a", "b"])
        body.push(h("li", {}, side === "a" ? "this run: " : "the other: ", h("code", {}, hooksRan(p[side]))));
    if (key === "sources") {
      for (const x of p.added) body.push(h("li", {}, "added ", h("code", {}, x)));
      for (const x of p.removed) body.push(h("li", {}, "removed ", h("code", {}, x)));
      for (const x of p.signature_changed)
        body.push(h("li", {}, "signature of ", h("code", {}, x.source_identifier), " changed"));
    }
    if (key === "graph" && p.summary && Array.isArray(p.summary.changed_nodes))
      for (const n of p.summary.changed_nodes)
        body.push(h("li", {}, "node ", h("code", {}, shown(n.node)), " ", n.change,
          n.fields ? [": ", h("code", {}, shown(n.fields))] : null));
    if (key === "graph" && !p.same && !p.summary)
      body.push(h("li", {}, p.a ? "the other run has no patched graph" : "this run has no patched graph"));
    const changes = p.diff && Array.isArray(p.diff.changes) ? p.diff.changes : [];
    return h("div", { class: "diff-part", "data-part": key },
      h("h3", {}, title, " ", badge(p.same ? "same" : "differs")),
      body.length ? h("ul", {}, body) : null,
      changes.length ? table([["Path", (c) => h("code", {}, c.path || "(whole)")], ["Change", (c) => c.change],
        ["In this run", (c) => cellValue(c.before)], ["In the other", (c) => cellValue(c.after)]],
      changes) : null,
      p.diff && p.diff.truncated ? h("p", { class: "muted" }, `${p.diff.total} changes in all`) : null);
  });
  return h("div", { id: "run-diff" },
    h("p", { id: "diff-summary" }, d.same ? "The runs are the same." : "The runs differ."), parts);
}

export function executionPage(main, { args: [id], params, session, go }) {
  const head = h("div", {}, "Loading…");
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
  const notice = h("div", { "aria-live": "polite" });
  const current = h("div", {});
  const timeline = h("div", {});
  const record = h("div", {});
  const artifacts = h("div", {});
  const compare = h("div", {});
  main.append(head, actions, notice, section("State", current), section("Timeline", timeline),
    section("Compare with another run", compare), section("Run record", record), section("Artifacts", artifacts));
  let steps = [];
  let at = null; // the timeline position shown; null: follow the latest
  let run = null;

  const showAt = (i) => {
    const step = steps[i];
    const slider = timeline.querySelector("input[type=range]");
    if (slider) slider.value = i;
    const latest = i === steps.length - 1;
    current.replaceChildren(
      h("p", { id: "scrub-label" }, latest ? "Now" : `After event ${i + 1} of ${steps.length}`, ": ",
        h("strong", {}, step.type), " at ", when(step.recorded_at)),
      axes(step.state),
      h("dl", { class: "facts" },
        h("dt", {}, "Phase"), h("dd", {}, step.state.control_phase || "—"),
        h("dt", {}, "Outcome"), h("dd", {}, step.state.terminal_outcome || "—"),
        h("dt", {}, "Failure"), h("dd", {}, step.state.failure_class || "—"),
        h("dt", {}, "Error"), h("dd", { class: "error-text" }, step.state.last_error || "—"),
        h("dt", {}, "Retries"), h("dd", {}, String(step.state.retry_count)),
        h("dt", {}, "Manifest"), h("dd", {}, h("code", {}, step.state.manifest_sha256 || "—")),
        h("dt", {}, "Hooks"), h("dd", { "data-fact": "wasm_hooks" }, hooksRan(step.state.wasm_hooks))));
    for (const li of timeline.querySelectorAll("li")) li.classList.toggle("current", Number(li.dataset.index) === i);
  };

  const renderTimeline = () => {
    const slider = h("input", { type: "range", min: 0, max: steps.length - 1, value: at ?? steps.length - 1, id: "scrub" });
    slider.addEventListener("input", () => {
      const i = Number(slider.value);
      at = i === steps.length - 1 ? null : i;
      showAt(i);
    });
    timeline.replaceChildren(
      h("div", { class: "field" }, h("label", { for: "scrub" }, "Show the run after event"), slider),
      h("ol", { class: "timeline" }, steps.map((s, i) =>
        h("li", { "data-index": i },
          h("button", { type: "button", class: "link", onclick: () => {
            at = i === steps.length - 1 ? null : i;
            showAt(i);
          } }, s.type),
          " ", h("time", { datetime: s.recorded_at }, when(s.recorded_at)),
          " ", badge(s.state.status), s.actor ? h("span", { class: "muted" }, " · " + s.actor) : null))));
    showAt(at ?? steps.length - 1);
  };

  const act = (label, confirmText, controls, call) =>
    h("button", { type: "button", onclick: async () => {
      const values = await confirmDialog(label, confirmText, controls());
      if (!values) return;
      notice.replaceChildren();
      try {
        await call(values);
        notice.replaceChildren(h("p", { class: "ok" }, label + ": done"));
        load();
      } catch (e) {
        notice.replaceChildren(errorBox(e));
      }
    } }, label);

  const offerActions = (r) => {
    const list = [];
    const path = `/executions/${encodeURIComponent(id)}`;
    if (r.status === "pending" && !r.execute_requested_at)
      list.push(act("Execute", "Prepare, stage and submit this run?", () => [
        h("label", {}, h("input", { type: "checkbox", name: "do_stage", checked: true }), " Stage data"),
        h("label", {}, h("input", { type: "checkbox", name: "do_submit", checked: true }), " Submit")],
      (v) => api("POST", path + "/execute", { do_stage: !!v.do_stage, do_submit: !!v.do_submit })));
    if (!TERMINAL.has(r.status))
      list.push(act("Cancel", "Cancel this run? A submitted run is cancelled at its backend.",
        () => [field("Reason", h("input", { name: "reason" }))],
        (v) => api("PATCH", path, v.reason ? { status: "cancelled", reason: v.reason } : { status: "cancelled" })));
    if (r.status === "failed")
      list.push(act("Retry", "Run this execution again?", () => [field("Reason", h("input", { name: "reason" }))],
        (v) => api("POST", path + "/retry", v.reason ? { reason: v.reason } : {})));
    const unresolved = ["in_flight", "uncertain", "submitted"].includes(r.submission_state) &&
      (r.lookup_budget_exhausted || r.poll_budget_exhausted || r.cancel_unconfirmed);
    if (session.superuser && unresolved)
      list.push(act("Abandon submission", "The job may still exist at the backend. Abandon it?", () => [
        field("Reason", h("input", { name: "reason", required: true })),
        h("label", {}, h("input", { type: "checkbox", name: "ack", required: true }), " I accept an external job may exist")],
      (v) => api("POST", path + "/submission/abandon", {
        reason: v.reason, expected_submission_state: r.submission_state,
        expected_daliuge_session_id: r.daliuge_session_id ?? null,
        expected_submission_deadline_at: r.submission_deadline_at ?? null,
        acknowledge_external_job_may_exist: !!v.ack })));
    if (session.superuser && r.status === "completed" && r.output_verification_required && r.output_state !== "verified")
      list.push(act("Verify outputs", "Record this output inventory report?",
        () => [field("Inventory report (JSON)", h("textarea", { name: "report", rows: 8, required: true }))],
        (v) => api("POST", path + "/outputs/verify", JSON.parse(v.report))));
    actions.replaceChildren(...list);
  };

  const loadArtifacts = async () => {
    const { data } = await api("GET", `/executions/${encodeURIComponent(id)}/artifacts`);
    const open = async (a, download) => {
      const res = await api("GET", `/executions/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(a.kind)}`, undefined, { raw: true });
      const blob = await res.blob();
      if (download) {
        const url = URL.createObjectURL(blob);
        const el = h("a", { href: url, download: `${a.kind}-${id}.json` });
        document.body.append(el);
        el.click();
        el.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } else {
        let text = await blob.text();
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
        } catch {}
        artifacts.querySelector(".viewer").replaceChildren(h("h3", {}, a.kind), pre(text));
      }
    };
    artifacts.replaceChildren(table([
      ["Kind", (a) => a.kind], ["Size", (a) => `${a.size_bytes} B`], ["Phase", (a) => a.producer_phase || ""],
      ["", (a) => [h("button", { type: "button", class: "secondary", onclick: () => open(a, false) }, "View"), " ",
        h("button", { type: "button", class: "secondary", onclick: () => open(a, true) }, "Download")]]], data),
    h("div", { class: "viewer" }));
  };

  // The other run (?compare=ID keeps it in a shareable URL) and what differs.
  let compareOffered = false;
  const loadCompare = async (r) => {
    const other = params.get("compare");
    if (!compareOffered) {
      compareOffered = true;
      const { data } = await api("GET", "/executions" + query({ project_module: r.project_module, items_per_page: 50 }));
      const choices = data.items.filter((x) => x.uuid !== id)
        .map((x) => [x.uuid, `${x.uuid} · ${x.status} · ${when(x.created_at)}`]);
      const picker = select("other", [["", "Choose a run…"], ...choices], other || "");
      const labelled = field("Run of the same project", picker);
      picker.id = "compare-with";
      labelled.querySelector("label").htmlFor = picker.id;
      compare.replaceChildren(h("form", { "aria-label": "Compare runs", onsubmit: (e) => {
        e.preventDefault();
        if (!picker.value) return;
        go(`/console/executions/${encodeURIComponent(id)}?compare=${encodeURIComponent(picker.value)}`, true);
      } }, labelled, h("button", { type: "submit" }, "Compare")),
      h("div", { class: "diff-result" }));
    }
    const result = compare.querySelector(".diff-result");
    if (!other) return;
    try {
      const { data: d } = await api("GET", `/executions/${encodeURIComponent(id)}/diff/${encodeURIComponent(other)}`);
      result.replaceChildren(h("p", {}, "Compared with ", link("/console/executions/" + other, h("code", {}, other))),
        runDiff(d));
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  };

  const load = async () => {
    try {
      const [{ data: r }, { data: hist }] = await Promise.all([
        api("GET", `/executions/${encodeURIComponent(id)}`),
        api("GET", `/executions/${encodeURIComponent(id)}/history`)]);
      run = r;
      steps = hist.steps;
      head.replaceChildren(h("h1", {}, "Execution ", h("code", {}, r.uuid)),
        h("p", { class: "muted" }, r.project_module, " · ", (r.sources || []).map((s) => s.source_identifier).join(", "),
          " · created ", when(r.created_at)),
        h("div", { id: "run-status" }, "Status: ", badge(r.status)));
      offerActions(r);
      renderTimeline();
      const rec = r.workflow_manifest && r.workflow_manifest.beampipe_run_record;
      record.replaceChildren(rec ? pre(rec) : h("p", { class: "muted" }, "No run record yet."));
      await loadCompare(r);
      await loadArtifacts();
    } catch (e) {
      append(head, errorBox(e));
    }
  };
  load();
  const feed = openFeed({ stream_id: "execution-" + id }, debounce(load, 250));
  return () => feed.close();
}
