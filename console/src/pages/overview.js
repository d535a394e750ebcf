import { api } from "../api.js";
import { badge, errorBox, h, link, section, table, when } from "../dom.js";
import { openFeed } from "../feed.js";

export function eventRow(e) {
  const d = e.data || {};
  const about = d.source_identifier || d.project_module || "";
  return h("li", {},
    h("span", { class: "pos" }, "#" + e.position), " ",
    h("time", { datetime: e.recorded_at }, when(e.recorded_at)), " ",
    h("strong", {}, e.type), " ",
    e.stream_type === "execution"
      ? link("/console/executions/" + encodeURIComponent(e.stream_id.slice("execution-".length)), e.stream_id)
      : e.stream_type === "source"
        ? link("/console/sources/" + encodeURIComponent(e.stream_id.slice("source-".length)), e.stream_id)
        : h("span", {}, e.stream_id),
    about ? h("span", { class: "muted" }, " · " + about) : null);
}

export function overviewPage(main) {
  const ready = h("div", {}, "Loading…");
  const failures = h("div", {});
  const dead = h("div", {});
  const cluster = h("div", {});
  const feedList = h("ol", { class: "feed", reversed: true, "aria-live": "polite" });
  const feedState = h("span", { class: "muted" }, "connecting…");
  main.append(h("h1", {}, "Overview"),
    h("div", { class: "grid" },
      section("Readiness", ready),
      section("Recent failures", failures),
      section("Dead letters", dead),
      section("Cluster", cluster)),
    section("Live feed", h("p", {}, "Events as they are recorded: ", feedState), feedList));

  api("GET", "/ready").then(({ data: r }) => {
    const p = r.projections || {};
    ready.replaceChildren(h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", { id: "ready-status" }, badge(r.status)),
      h("dt", {}, "Database"), h("dd", {}, r.database || "—"),
      h("dt", {}, "Migrations"), h("dd", {}, r.migrations ? `${r.migrations.applied}/${r.migrations.latest}` : "—"),
      h("dt", {}, "Projection lag"), h("dd", {}, p.lag ?? "—", p.failure ? h("span", { class: "error" }, " " + p.failure) : null),
      h("dt", {}, "Projection dead letters"), h("dd", {}, p.dead_letters_total ?? "—"),
      h("dt", {}, "Scheduler leader"), h("dd", {}, (r.scheduler && r.scheduler.leader) || "none"),
      h("dt", {}, "Queue depth"), h("dd", {}, r.queue_depth ?? "—"),
      h("dt", {}, "Jobs running"), h("dd", {}, r.jobs_running ?? "—"),
      h("dt", {}, "Archive"), h("dd", {}, r.archive || "—"),
      h("dt", {}, "Execution backends"), h("dd", {}, r.execution_backends || "—")),
      r.nodes ? table([["Node", (n) => n.node_id], ["Host", (n) => n.host], ["Roles", (n) => n.roles || ""],
        ["Alive", (n) => String(n.alive ?? "")], ["Last seen", (n) => when(n.last_seen)]],
      r.nodes, "Nodes") : null);
  }).catch((e) => ready.replaceChildren(errorBox(e)));

  // Clustered nodes (issue #23): who holds how many shards, as this node saw at its last round.
  api("GET", "/cluster").then(({ data: v }) => {
    if (v.mode !== "cluster") {
      cluster.replaceChildren(h("p", { id: "cluster-mode" }, "Single node: every stream is local."));
      return;
    }
    const byOwner = {};
    for (const l of v.leases) if (l.live) byOwner[l.owner] = (byOwner[l.owner] || 0) + 1;
    const unowned = v.shards - v.leases.filter((l) => l.live).length;
    cluster.replaceChildren(
      h("p", { id: "cluster-mode" }, `Cluster of ${v.members.length} member(s), ${v.shards} shards` +
        (unowned > 0 ? `, ${unowned} moving` : "")),
      h("dl", { class: "facts" },
        h("dt", {}, "This node"), h("dd", {}, `${v.node} at ${v.address}`),
        h("dt", {}, "Last rebalance"), h("dd", {}, v.last_rebalance ? when(v.last_rebalance) : "—"),
        v.error ? h("dt", {}, "Last round") : null, v.error ? h("dd", { class: "error" }, v.error) : null),
      table([["Member", (m) => m.node], ["Address", (m) => m.address],
        ["Shards", (m) => String(byOwner[m.node] || 0)], ["Last seen", (m) => when(m.last_seen)]],
      v.members, "Members"));
  }).catch((e) => cluster.replaceChildren(errorBox(e)));

  api("GET", "/executions?status=failed&items_per_page=5").then(({ data }) => {
    const rows = data.items || data;
    failures.replaceChildren(table([
      ["Run", (x) => link("/console/executions/" + x.uuid, x.uuid.slice(0, 8))],
      ["Project", (x) => x.project_module],
      ["Error", (x) => x.last_error || x.failure_class || ""],
      ["When", (x) => when(x.updated_at)]], rows));
  }).catch((e) => failures.replaceChildren(errorBox(e)));

  api("GET", "/jobs?status=dead_letter&limit=5").then(({ data, total }) => {
    const rows = data.items || data;
    dead.replaceChildren(h("p", {}, `${isNaN(total) ? rows.length : total} dead-lettered job(s) `,
      link("/console/jobs?status=dead_letter", "requeue…")),
    table([["Job", (j) => (j.job_id || j.id || "").slice(0, 8)], ["Kind", (j) => j.kind], ["Error", (j) => j.last_error || ""]], rows));
  }).catch((e) => dead.replaceChildren(errorBox(e)));

  const feed = openFeed({}, (e) => {
    feedList.prepend(eventRow(e));
    while (feedList.children.length > 50) feedList.lastChild.remove();
  }, (state) => (feedState.textContent = state));
  return () => feed.close();
}
