import { api, query } from "../api.js";
import { badge, confirmDialog, errorBox, h, link, table, when } from "../dom.js";
import { filterBar, pager } from "./common.js";

const LIMIT = 100;

export function jobsPage(main, { params, go, session }) {
  const list = h("div", {}, "Loading…");
  const notice = h("div", { "aria-live": "polite" });
  const offset = Number(params.get("offset") || 0);
  main.append(h("h1", {}, "Jobs"),
    filterBar(params, [["status", "Status", ["queued", "running", "completed", "failed", "dead_letter", "cancelled"]],
      ["kind", "Kind"], ["project_module", "Project module"]], (q) => go("/console/jobs?" + q)),
    notice, list);
  const load = () => {
    const q = Object.fromEntries(params.entries());
    api("GET", "/jobs" + query({ ...q, limit: LIMIT, offset })).then(({ data, total }) => {
      list.replaceChildren(table([
        ["Job", (j) => h("code", {}, j.id.slice(0, 8))],
        ["Kind", (j) => j.kind],
        ["Status", (j) => badge(j.status)],
        ["Subject", (j) => (j.execution_id ? link("/console/executions/" + j.execution_id, j.subject) : j.subject)],
        ["Attempt", (j) => String(j.attempt)],
        ["Error", (j) => j.last_error || ""],
        ["Updated", (j) => when(j.updated_at)],
        ["", (j) => (session.superuser && (j.status === "dead_letter" || j.status === "failed")
          ? h("button", { type: "button", onclick: async () => {
            if (!(await confirmDialog("Requeue", `Put job ${j.id.slice(0, 8)} (${j.kind}) back in the queue?`))) return;
            try {
              await api("POST", `/jobs/${j.id}/requeue`, {});
              notice.replaceChildren(h("p", { class: "ok" }, "Requeued."));
              load();
            } catch (e) {
              notice.replaceChildren(errorBox(e));
            }
          } }, "Requeue") : "")]], data),
      pager(offset, LIMIT, total, (p) => {
        params.set("offset", p * LIMIT);
        go("/console/jobs?" + params);
      }));
    }).catch((e) => list.replaceChildren(errorBox(e)));
  };
  load();
}
