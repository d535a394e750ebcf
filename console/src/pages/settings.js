import { api } from "../api.js";
import { badge, errorBox, h, section, table, when } from "../dom.js";

function into(el, path, columns) {
  api("GET", path).then(({ data }) => el.replaceChildren(table(columns, data.items || data)))
    .catch((e) => el.replaceChildren(errorBox(e)));
}

export function profilesPage(main) {
  const list = h("div", {}, "Loading…");
  main.append(h("h1", {}, "Deployment profiles"), list);
  into(list, "/deployment-profiles?limit=500", [
    ["Name", (p) => p.name], ["Project", (p) => p.project_module || "(global)"],
    ["Kind", (p) => (p.deployment && p.deployment.kind) || ""], ["Default", (p) => (p.is_default ? badge("default") : "")],
    ["Revision", (p) => String(p.revision ?? "")], ["Updated", (p) => when(p.updated_at)]]);
}

export function alertsPage(main) {
  const channels = h("div", {}, "Loading…");
  const rules = h("div", {}, "Loading…");
  const deliveries = h("div", {}, "Loading…");
  main.append(h("h1", {}, "Alerts"), section("Channels", channels), section("Rules", rules),
    section("Deliveries", deliveries));
  into(channels, "/notification-channels?limit=500", [["Name", (c) => c.name], ["Kind", (c) => c.kind],
    ["Enabled", (c) => badge(c.enabled ? "enabled" : "disabled")], ["Updated", (c) => when(c.updated_at)]]);
  into(rules, "/alert-rules?limit=500", [["Name", (r) => r.name], ["Trigger", (r) => r.trigger_kind], ["Severity", (r) => r.severity],
    ["Enabled", (r) => badge(r.enabled ? "enabled" : "disabled")], ["Last fired", (r) => when(r.last_fired_at)]]);
  into(deliveries, "/alert-deliveries?limit=100", [["When", (d) => when(d.created_at)], ["Status", (d) => badge(d.status)],
    ["Attempts", (d) => String(d.attempts ?? "")], ["Error", (d) => d.error || ""]]);
}

export function usersPage(main, { session }) {
  main.append(h("h1", {}, "Users"));
  if (!session.superuser) return void main.append(h("p", {}, "Only a superuser sees the accounts."));
  const list = h("div", {}, "Loading…");
  main.append(h("p", { class: "muted" }, "Accounts are made with ", h("code", {}, "beampipe admin create-user"), "."), list);
  into(list, "/users?limit=500", [["Username", (u) => u.username], ["Name", (u) => u.name], ["Email", (u) => u.email],
    ["Superuser", (u) => (u.is_superuser ? badge("superuser") : "")], ["Created", (u) => when(u.created_at)]]);
}
