// A list page's filter bar and pager: filters live in the URL, so a filtered view is a link.
import { h, select } from "../dom.js";

export function filterBar(params, fields, onChange) {
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filters" });
  for (const [name, label, options] of fields) {
    const id = "flt-" + name;
    const control = options
      ? select(name, [["", "any"], ...options.map((o) => [o, o])], params.get(name) || "")
      : h("input", { name, value: params.get(name) || "", placeholder: label });
    control.id = id;
    form.append(h("div", { class: "field" }, h("label", { for: id }, label), control));
  }
  form.append(h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form).entries()) if (v) q.set(k, v);
    onChange(q);
  });
  return form;
}

export function pager(offset, limit, total, onPage) {
  const last = Math.max(0, Math.ceil(total / limit) - 1);
  const page = Math.floor(offset / limit);
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", class: "secondary", disabled: page <= 0, onclick: () => onPage(page - 1) }, "Previous"),
    h("span", {}, ` page ${page + 1} of ${last + 1} (${total}) `),
    h("button", { type: "button", class: "secondary", disabled: page >= last, onclick: () => onPage(page + 1) }, "Next"));
}

// Reloads at most once per `ms` however many events ask for it (a live page under a burst).
export function debounce(fn, ms = 300) {
  let t = null;
  return () => {
    if (t) return;
    t = setTimeout(() => {
      t = null;
      fn();
    }, ms);
  };
}
