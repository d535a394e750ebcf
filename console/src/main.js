// The operator console: one page per URL under /console (shareable links), rendered from the
// API as the signed-in user. Pages return a cleanup function (live feeds to close).
import { session, signOut, whenSignedOut } from "./api.js";
import { clear, h, link } from "./dom.js";
import { loginPage } from "./pages/login.js";
import { overviewPage } from "./pages/overview.js";
import { sourcePage, sourcesPage } from "./pages/sources.js";
import { executionPage, executionsPage } from "./pages/executions.js";
import { jobsPage } from "./pages/jobs.js";
import { configPage, configsPage } from "./pages/configs.js";
import { alertsPage, profilesPage, usersPage } from "./pages/settings.js";

const routes = [
  [/^\/console\/?$/, overviewPage, "Overview"],
  [/^\/console\/sources\/?$/, sourcesPage, "Sources"],
  [/^\/console\/sources\/([^/]+)$/, sourcePage, "Source"],
  [/^\/console\/executions\/?$/, executionsPage, "Executions"],
  [/^\/console\/executions\/([^/]+)$/, executionPage, "Execution"],
  [/^\/console\/jobs\/?$/, jobsPage, "Jobs"],
  [/^\/console\/configs\/?$/, configsPage, "Project configs"],
  [/^\/console\/configs\/([^/]+)$/, configPage, "Project config"],
  [/^\/console\/profiles\/?$/, profilesPage, "Deployment profiles"],
  [/^\/console\/alerts\/?$/, alertsPage, "Alerts"],
  [/^\/console\/users\/?$/, usersPage, "Users"],
];

const nav = [
  ["/console", "Overview"],
  ["/console/sources", "Sources"],
  ["/console/executions", "Executions"],
  ["/console/jobs", "Jobs"],
  ["/console/configs", "Configs"],
  ["/console/profiles", "Profiles"],
  ["/console/alerts", "Alerts"],
];

let cleanup = null;

function header(s) {
  const top = clear(document.getElementById("top"));
  const here = location.pathname;
  top.append(
    h("nav", { "aria-label": "Main" },
      h("span", { class: "brand" }, "beampipe"),
      h("ul", {}, nav.concat(s && s.superuser ? [["/console/users", "Users"]] : []).map(([path, name]) => {
        const current = path === "/console" ? here === path || here === "/console/" : here.startsWith(path);
        return h("li", {}, h("a", { href: path, "data-link": true, "aria-current": current ? "page" : null }, name));
      })),
      s ? h("span", { class: "who" },
        h("span", { id: "whoami" }, s.username + (s.superuser ? " (superuser)" : "")),
        h("button", { type: "button", class: "secondary", onclick: async () => {
          await signOut();
          go("/console/login");
        } }, "Sign out")) : null));
}

export function go(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

async function render() {
  if (cleanup) {
    try {
      cleanup();
    } catch {}
    cleanup = null;
  }
  const main = clear(document.getElementById("main"));
  const path = location.pathname;
  const s = session.get();
  if (path === "/console/login" || !s) {
    header(null);
    document.title = "Sign in · beampipe";
    if (path !== "/console/login") {
      history.replaceState(null, "", "/console/login?next=" + encodeURIComponent(path + location.search));
    }
    cleanup = loginPage(main, { done: (next) => go(next || "/console") });
    return;
  }
  header(s);
  for (const [rx, page, title] of routes) {
    const m = path.match(rx);
    if (!m) continue;
    document.title = title + " · beampipe";
    const params = new URLSearchParams(location.search);
    cleanup = page(main, { args: m.slice(1).map(decodeURIComponent), params, session: s, go });
    main.focus({ preventScroll: true });
    return;
  }
  main.append(h("h1", {}, "Not found"), h("p", {}, "No console page at ", h("code", {}, path), ". "),
    link("/console", "Back to the overview"));
}

document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", render);
whenSignedOut(() => go("/console/login?next=" + encodeURIComponent(location.pathname), true));
render();
