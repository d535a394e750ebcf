import { api } from "../api.js";
import { badge, errorBox, field, h, link, pre, section, select, table, when } from "../dom.js";

export function configsPage(main, { session, go }) {
  const list = h("div", {}, "Loading…");
  main.append(h("h1", {}, "Project configs"), list);
  if (session.superuser) main.append(uploadForm((row) => go("/console/configs/" + encodeURIComponent(row.project_id))));
  api("GET", "/projects?limit=500").then(({ data }) => {
    list.replaceChildren(table([
      ["Project", (p) => link("/console/configs/" + encodeURIComponent(p.project_id), p.project_id)],
      ["Active revision", (p) => String(p.version)],
      ["SHA-256", (p) => h("code", {}, (p.spec_sha256 || "").slice(0, 16))]], data));
  }).catch((e) => list.replaceChildren(errorBox(e)));
}

function uploadForm(done) {
  const text = h("textarea", { name: "config", rows: 14, spellcheck: "false" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { "aria-label": "Upload a project config" },
    field("Config (YAML)", text), h("button", { type: "submit" }, "Validate and upload"), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    out.replaceChildren();
    try {
      const { data } = await api("POST", "/project-configs", text.value, { contentType: "application/yaml" });
      done(data);
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  return section("Upload", form);
}

// Where two JSON documents differ, as paths (YAML-style, a.b[0].c) with both values.
export function diff(a, b, path = "", out = []) {
  const isObj = (v) => v && typeof v === "object";
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const p = Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
      if (!(k in a)) out.push([p, "added", undefined, b[k]]);
      else if (!(k in b)) out.push([p, "removed", a[k], undefined]);
      else diff(a[k], b[k], p, out);
    }
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push([path || "(document)", "changed", a, b]);
  }
  return out;
}

export function configPage(main, { args: [project] }) {
  const head = h("div", {}, h("h1", {}, "Project ", h("code", {}, project)));
  const revs = h("div", {}, "Loading…");
  const cmp = h("div", {});
  main.append(head, section("Revisions", revs), section("Compare revisions", cmp));
  api("GET", `/project-configs/${encodeURIComponent(project)}/versions?limit=500`).then(({ data }) => {
    revs.replaceChildren(table([
      ["Revision", (r) => String(r.version)], ["Active", (r) => (r.active ? badge("active") : "")],
      ["SHA-256", (r) => h("code", {}, r.spec_sha256.slice(0, 16))], ["Uploaded", (r) => when(r.uploaded_at)],
      ["Warnings", (r) => String((r.warnings || []).length)]], data));
    if (data.length < 2) return cmp.replaceChildren(h("p", { class: "muted" }, "One revision only."));
    const opts = data.map((r) => [String(r.version), "revision " + r.version]);
    const from = select("from", opts, String(data[data.length > 1 ? 1 : 0].version));
    const to = select("to", opts, String(data[0].version));
    const result = h("div", {});
    const show = () => {
      const a = data.find((r) => String(r.version) === from.value);
      const b = data.find((r) => String(r.version) === to.value);
      const d = diff(a.spec, b.spec);
      result.replaceChildren(table([["Path", (x) => h("code", {}, x[0])], ["Change", (x) => x[1]],
        ["Before", (x) => (x[2] === undefined ? "" : pre(x[2]))], ["After", (x) => (x[3] === undefined ? "" : pre(x[3]))]], d,
      `${d.length} difference(s)`));
    };
    from.addEventListener("change", show);
    to.addEventListener("change", show);
    cmp.replaceChildren(h("div", { class: "filters" }, field("From", from), field("To", to)), result);
    show();
  }).catch((e) => revs.replaceChildren(errorBox(e)));
}
