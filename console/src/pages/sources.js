import { api, query } from "../api.js";
import { badge, confirmDialog, errorBox, h, link, pre, section, table, when } from "../dom.js";
import { openFeed } from "../feed.js";
import { debounce, filterBar, pager } from "./common.js";

const LIMIT = 50;

export function sourcesPage(main, { params, go }) {
  const list = h("div", {}, "Loading…");
  const offset = Number(params.get("offset") || 0);
  main.append(h("h1", {}, "Sources"),
    filterBar(params, [["project_module", "Project module"], ["discovery_state", "Discovery", ["never", "requested", "checked", "failed"]],
      ["enabled", "Enabled", ["true", "false"]], ["pending", "Run pending", ["true", "false"]]],
    (q) => go("/console/sources?" + q)),
    list);
  const load = () => {
    const q = Object.fromEntries(params.entries());
    api("GET", "/sources" + query({ ...q, limit: LIMIT, offset })).then(({ data, total }) => {
      list.replaceChildren(table([
        ["Source", (s) => link("/console/sources/" + s.uuid, s.source_identifier)],
        ["Project", (s) => s.project_module],
        ["Enabled", (s) => badge(s.enabled ? "enabled" : "disabled")],
        ["Last checked", (s) => when(s.last_checked_at)],
        ["Discovery error", (s) => s.last_discovery_error || ""],
        ["Run pending", (s) => (s.workflow_run_pending ? "yes" : "")]], data),
      pager(offset, LIMIT, total, (p) => {
        params.set("offset", p * LIMIT);
        go("/console/sources?" + params);
      }));
    }).catch((e) => list.replaceChildren(errorBox(e)));
  };
  load();
  const feed = openFeed({ stream_type: "source" }, debounce(load, 500));
  return () => feed.close();
}

export function sourcePage(main, { args: [id] }) {
  const head = h("div", {}, "Loading…");
  const status = h("div", {});
  const meta = h("div", {});
  const history = h("div", {});
  const runs = h("div", {});
  main.append(head, section("Status", status), section("Discovery history", history),
    section("Archive metadata", meta), section("Executions", runs));
  const load = async () => {
    try {
      const { data: s } = await api("GET", `/sources/${encodeURIComponent(id)}`);
      const discover = h("button", { type: "button", onclick: async () => {
        if (!(await confirmDialog("Discover now", `Ask the archive about ${s.source_identifier} again?`))) return;
        try {
          await api("POST", "/sources/discover", { project_module: s.project_module, source_identifier: s.source_identifier });
          load();
        } catch (e) {
          head.append(errorBox(e));
        }
      } }, "Discover");
      head.replaceChildren(h("h1", {}, s.source_identifier), h("p", { class: "muted" }, s.project_module, " · ", s.uuid), discover);
      const { data: st } = await api("GET", `/sources/${encodeURIComponent(id)}/status`);
      status.replaceChildren(h("dl", { class: "facts" },
        h("dt", {}, "Ready for execution"), h("dd", {}, badge(st.ready_for_execution ? "ready" : "blocked")),
        h("dt", {}, "Discovery complete"), h("dd", {}, String(st.discovery_complete)),
        h("dt", {}, "Signature"), h("dd", {}, h("code", {}, st.discovery_signature || "—")),
        h("dt", {}, "Blockers"), h("dd", {}, st.blockers.length ? h("ul", { id: "blockers" }, st.blockers.map((b) => h("li", {}, b))) : "none")));
      const { data: md } = await api("GET", `/sources/${encodeURIComponent(id)}/metadata`);
      meta.replaceChildren(table([["SBID", (m) => m.sbid], ["Updated", (m) => when(m.updated_at)], ["Metadata", (m) => pre(m.metadata_json)]], md.metadata));
      const { data: evs } = await api("GET", `/sources/${encodeURIComponent(id)}/events?limit=100`);
      history.replaceChildren(table([["When", (e) => when(e.occurred_at)], ["Event", (e) => e.event_type], ["Actor", (e) => e.actor || ""],
        ["Details", (e) => (e.payload && (e.payload.error || e.payload.outcome || e.payload.reason)) || ""]], evs));
      const { data: ex } = await api("GET", `/sources/${encodeURIComponent(id)}/executions?limit=20`);
      runs.replaceChildren(table([["Run", (x) => link("/console/executions/" + x.uuid, x.uuid.slice(0, 8))], ["Status", (x) => badge(x.status)], ["Created", (x) => when(x.created_at)]], ex));
    } catch (e) {
      head.replaceChildren(errorBox(e));
    }
  };
  load();
  const feed = openFeed({ stream_id: "source-" + id }, debounce(load, 500));
  return () => feed.close();
}
