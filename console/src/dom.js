// Elements are built with text nodes and attributes only, never from markup, so a string the
// system stores (a source named "<img src=x onerror=…>") is always shown as those characters.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A link inside the console: the router handles it without a page load.
export function link(path, ...children) {
  return h("a", { href: path, "data-link": true }, ...children);
}

export function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function badge(value) {
  const v = value === null || value === undefined ? "—" : String(value);
  return h("span", { class: "badge b-" + v.replace(/[^a-z_]/g, "") }, v);
}

// A table of rows: columns are [heading, row => cell content].
export function table(columns, rows, caption) {
  return h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([name]) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.length === 0
      ? h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "Nothing here."))
      : rows.map((r) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(r)))))));
}

export function section(title, ...children) {
  return h("section", { "aria-label": title }, h("h2", {}, title), ...children);
}

export function pre(value) {
  return h("pre", { class: "json" }, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

// A labelled form control.
export function field(label, control) {
  const id = "f-" + Math.random().toString(36).slice(2, 9);
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

export function select(name, options, value) {
  return h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

export function errorBox(err) {
  const box = h("div", { class: "error", role: "alert" }, err.message || String(err));
  if (err.field) append(box, [" (", h("code", {}, err.field), ")"]);
  const list = err.body && Array.isArray(err.body.errors) ? err.body.errors : [];
  if (list.length)
    append(box, h("ul", {}, list.map((e) =>
      h("li", {}, e.path ? h("code", {}, e.path) : null, e.path ? ": " : null, e.message || JSON.stringify(e)))));
  return box;
}

// A confirmation dialog (a native <dialog>: focus is trapped and Escape closes it). Resolves to
// the form's values when confirmed, or null.
export function confirmDialog(title, text, controls = []) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" },
      h("h2", {}, title), h("p", {}, text), ...controls,
      h("div", { class: "actions" },
        h("button", { value: "cancel", type: "submit", class: "secondary" }, "Cancel"),
        h("button", { value: "ok", type: "submit", class: "danger" }, "Confirm")));
    const dlg = h("dialog", { "aria-label": title }, form);
    document.body.append(dlg);
    dlg.addEventListener("close", () => {
      const ok = dlg.returnValue === "ok";
      const values = Object.fromEntries(new FormData(form).entries());
      for (const c of form.querySelectorAll("input[type=checkbox]")) values[c.name] = c.checked;
      dlg.remove();
      resolve(ok ? values : null);
    });
    dlg.showModal();
  });
}
