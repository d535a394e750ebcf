"""The operator console in a real browser (issue #20): Debian's chromium, headless, driven by
python3-selenium through chromium-driver. Sign-in (and a bad password), the overview, an
execution created through the API reaching `completed` live on its page without a reload,
scrubbing its timeline back to an earlier state, comparing it with another run, a hostile source name shown as text, a plain
user offered no superuser action, the live feed resuming after the server restarts, and no
console response without its Content-Security-Policy (the browser's log shows no violation).
Screenshots of each page are saved under build/test-artifacts/console/."""
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_PASSWORD, ADMIN_USERNAME, REFERENCE, V2, Checks, Server, create_profile,  # noqa: E402
                     create_user, free_port, fresh_database, ready_sources, upload_config, wallaby_config)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHOTS = os.environ.get("BEAMPIPE_TEST_ARTIFACTS", os.path.join(ROOT, "build", "test-artifacts", "console"))
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
XSS = "<img src=x onerror=window.__xss=1>"
PORT = free_port()
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_SIMULATED_RUN_MS": "3000", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100",
       "BEAMPIPE_BIND_ADDR": f"127.0.0.1:{PORT}"}
os.makedirs(SHOTS, exist_ok=True)

c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()
BASE = f"http://127.0.0.1:{PORT}"


def browser():
    o = Options()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
              "--disable-gpu", "--no-first-run"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def wait(drv, what, fn, timeout=30):
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.1).until(lambda d: fn(d))
    except TimeoutException:
        c.true(f"in time: {what}", False)
        return None


def text_of(drv, css):
    """The rendered text of the first match, read in one step (the page re-renders live)."""
    return drv.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : ''", css)


def shot(drv, name):
    drv.save_screenshot(os.path.join(SHOTS, name + ".png"))


def sign_in(drv, username, password):
    drv.get(BASE + "/console/login")
    wait(drv, "the sign-in form", lambda d: d.find_elements(By.NAME, "username"))
    drv.find_element(By.NAME, "username").send_keys(username)
    drv.find_element(By.NAME, "password").send_keys(password + Keys.ENTER)


def browser_problems(drv):
    """Script errors and Content-Security-Policy violations the browser logged (an API answer
    of 4xx that the page handles — a refused password, an expired token, a refused upload — is
    logged as a failed resource and is not one)."""
    handled = "Failed to load resource: the server responded with a status of 4"
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon" not in e["message"] and handled not in e["message"]]


drv = browser()
try:
    # --- the console is served by beampipe itself, with a strict policy
    with urllib.request.urlopen(BASE + "/") as r:
        c.eq("the root lands on the console", r.geturl(), BASE + "/console")
        policy = r.headers.get("Content-Security-Policy", "")
    c.true("a strict policy: scripts from this origin only, nothing inline",
           "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy)
    for asset in ("/console/assets/app.js", "/console/assets/app.css", "/console/executions/x"):
        with urllib.request.urlopen(BASE + asset) as r:
            c.true(f"{asset} carries the policy", r.headers.get("Content-Security-Policy") == policy)

    # --- sign in: a bad password first
    sign_in(drv, ADMIN_USERNAME, "not-the-password")
    err = wait(drv, "the refusal", lambda d: text_of(d, "[role=alert]"))
    c.eq("a bad password is refused", err, "Wrong username or password.")
    shot(drv, "01-sign-in-refused")
    drv.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD + Keys.ENTER)
    wait(drv, "the overview", lambda d: text_of(d, "h1") == "Overview")
    c.eq("signed in as the superuser", text_of(drv, "#whoami"), f"{ADMIN_USERNAME} (superuser)")
    status = wait(drv, "readiness", lambda d: text_of(d, "#ready-status"))
    c.eq("the overview shows readiness", status, "ready")
    c.eq("and that this node runs alone", wait(drv, "the cluster panel", lambda d: text_of(d, "#cluster-mode")),
         "Single node: every stream is local.")
    shot(drv, "02-overview")

    # --- an expired access token is renewed with the refresh token, without a new sign-in
    drv.execute_script("const s = JSON.parse(sessionStorage.getItem('beampipe.session')); "
                       "s.access = 'expired.token.value'; sessionStorage.setItem('beampipe.session', JSON.stringify(s));")
    drv.find_element(By.LINK_TEXT, "Jobs").click()
    c.true("a page loads with a renewed token", wait(drv, "the jobs table", lambda d: d.find_elements(By.CSS_SELECTOR, "main table")))
    c.true("the session holds a fresh access token", drv.execute_script(
        "return JSON.parse(sessionStorage.getItem('beampipe.session')).access !== 'expired.token.value'"))
    c.eq("still signed in", text_of(drv, "#whoami"), f"{ADMIN_USERNAME} (superuser)")

    # --- an upload shows the diagnostics at their paths
    drv.get(BASE + "/console/configs")
    area = wait(drv, "the upload form", lambda d: d.find_elements(By.CSS_SELECTOR, "form[aria-label='Upload a project config'] textarea"))
    if area:
        area[0].send_keys("metadata:\n  id: broken\n")
        drv.find_element(By.CSS_SELECTOR, "form[aria-label='Upload a project config'] button[type=submit]").click()
        paths = wait(drv, "the diagnostics", lambda d: d.execute_script(
            "return [...document.querySelectorAll('[role=alert] li code')].map(e => e.textContent)"))
        c.true("the refusal lists diagnostics with their YAML paths", paths and all(p for p in paths))
        shot(drv, "07b-config-diagnostics")

    # --- the run page follows a run live, without a reload
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    upload_config(srv, wallaby_config(GRAPH))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    st, run, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("execution created through the API", st, 201)
    eid = run["uuid"]
    drv.get(BASE + "/console/executions")
    c.true("it is listed", wait(drv, "the run in the list", lambda d: d.find_elements(By.LINK_TEXT, eid)))
    drv.find_element(By.LINK_TEXT, eid).click()
    wait(drv, "the run page", lambda d: "pending" in text_of(d, "#run-status"))
    c.eq("a shareable URL per run", drv.current_url, f"{BASE}/console/executions/{eid}")
    drv.execute_script("window.__same_page = 42")
    st, _, _, _ = srv.request("POST", f"{V2}/executions/{eid}/execute", {"do_stage": False, "do_submit": True})
    c.eq("executed through the API", st, 202)
    c.true("it shows running live", wait(drv, "running", lambda d: "running" in text_of(d, "#run-status")))
    c.true("then completed, live", wait(drv, "completed", lambda d: "completed" in text_of(d, "#run-status"), 60))
    c.eq("without a reload", drv.execute_script("return window.__same_page"), 42)
    wait(drv, "the final timeline", lambda d: text_of(d, "#scrub-label").startswith("Now: ") and
         text_of(d, "[data-axis=status]") == "completed")
    shot(drv, "03-execution-completed")

    # --- scrubbing: the timeline's first event shows the run as it was then
    slider = drv.find_element(By.ID, "scrub")
    slider.send_keys(Keys.HOME)
    c.true("the scrubber moved to the first event",
           wait(drv, "the first event", lambda d: text_of(d, "#scrub-label").startswith("After event 1 of")))
    c.eq("the earlier status", text_of(drv, "[data-axis=status]"), "pending")
    c.eq("and the earlier DALiuGE state", text_of(drv, "[data-axis=daliuge_state]"), "not_created")
    shot(drv, "04-execution-scrubbed")
    slider.send_keys(Keys.END)
    c.true("and back to now", wait(drv, "now", lambda d: text_of(d, "[data-axis=status]") == "completed"))

    # --- comparing with another run (#22): the run diff, part by part, at a shareable URL
    st, other, _, _ = srv.request("POST", V2 + "/executions", {
        "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": "HIPASSJ1313-15"}]})
    c.eq("a second run, never executed", st, 201)
    drv.get(f"{BASE}/console/executions/{eid}")
    picker = wait(drv, "the other run offered", lambda d: d.find_elements(
        By.CSS_SELECTOR, f"#compare-with option[value='{other['uuid']}']"))
    if picker:
        Select(drv.find_element(By.ID, "compare-with")).select_by_value(other["uuid"])
        drv.find_element(By.CSS_SELECTOR, "form[aria-label='Compare runs'] button[type=submit]").click()
        c.true("the diff is shown", wait(drv, "the diff", lambda d: text_of(d, "#diff-summary") == "The runs differ."))
        c.eq("at a shareable URL", drv.current_url, f"{BASE}/console/executions/{eid}?compare={other['uuid']}")
        part = lambda name: text_of(drv, f"[data-part={name}] h3")  # noqa: E731
        c.true(f"the same config and profile ({part('config')}, {part('profile')})",
               part("config").endswith("same") and part("profile").endswith("same"))
        c.true(f"the manifest differs, with its paths ({part('manifest')})",
               part("manifest").endswith("differs") and
               drv.find_elements(By.CSS_SELECTOR, "[data-part=manifest] table td code"))
        drv.execute_script("document.getElementById('run-diff').scrollIntoView()")
        shot(drv, "04b-execution-diff")

    # --- text from the system is text
    st, src, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": XSS})
    c.true("a hostile source name is accepted by the API", st in (200, 201))
    drv.get(f"{BASE}/console/sources/{src['uuid']}")
    c.true("the hostile name shows as characters", wait(drv, "the source page", lambda d: text_of(d, "h1") == XSS))
    drv.get(BASE + "/console/sources?project_module=wallaby_hires")
    c.true("also in the list", wait(drv, "the list", lambda d: d.find_elements(By.LINK_TEXT, XSS)))
    c.eq("no element was made from it", len(drv.find_elements(By.CSS_SELECTOR, "main img")), 0)
    c.eq("no script ran from it", drv.execute_script("return window.__xss === undefined"), True)
    shot(drv, "05-sources")

    for path, name, title in [("/console/jobs", "06-jobs", "Jobs"), ("/console/configs", "07-configs", "Project configs"),
                              ("/console/profiles", "08-profiles", "Deployment profiles"), ("/console/alerts", "09-alerts", "Alerts"),
                              ("/console/users", "09b-users", "Users")]:
        drv.get(BASE + path)
        c.true(f"{title} page", wait(drv, title, lambda d: text_of(d, "h1") == title))
        shot(drv, name)
    c.true("the superuser sees the accounts", wait(drv, "accounts", lambda d: ADMIN_USERNAME in text_of(d, "main table")))
    c.true("a superuser is offered the config upload", drv.get(BASE + "/console/configs") or
           wait(drv, "upload", lambda d: d.find_elements(By.CSS_SELECTOR, "form[aria-label='Upload a project config']")))
    c.eq("no script error or policy violation so far", browser_problems(drv), [])

    # --- a plain user is not offered what only a superuser may do
    c.eq("a plain user", create_user(db, "viewer", "viewer-password-1"), 0)
    viewer = browser()
    try:
        sign_in(viewer, "viewer", "viewer-password-1")
        wait(viewer, "the viewer's overview", lambda d: text_of(d, "h1") == "Overview")
        c.eq("signed in as a plain user", text_of(viewer, "#whoami"), "viewer")
        viewer.get(BASE + "/console/configs")
        wait(viewer, "the configs page", lambda d: d.find_elements(By.CSS_SELECTOR, "table"))
        c.eq("no config upload offered", len(viewer.find_elements(By.CSS_SELECTOR, "form[aria-label='Upload a project config']")), 0)
        c.eq("no users page offered", len(viewer.find_elements(By.LINK_TEXT, "Users")), 0)
        shot(viewer, "10-configs-plain-user")
    finally:
        viewer.quit()

    # --- the live feed resumes after the server restarts, with nothing repeated
    drv.get(BASE + "/console")
    wait(drv, "the feed is live", lambda d: text_of(d, "section[aria-label='Live feed'] p").endswith("live"))
    drv.execute_script("window.__same_page = 7")
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "BEFORE_RESTART"})
    wait(drv, "the event before the restart", lambda d: "BEFORE_RESTART" in text_of(d, "ol.feed"))
    srv.stop()
    c.true("the console notices", wait(drv, "reconnecting", lambda d: "reconnecting" in text_of(
        d, "section[aria-label='Live feed'] p")))
    # It comes back as a (one-member) cluster: the overview shows the members and their shards.
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_NODE_ID="console-node",
                                             BEAMPIPE_CLUSTER_BIND_ADDR=f"127.0.0.1:{free_port()}"))
    srv.wait_ready()
    srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires", "source_identifier": "AFTER_RESTART"})
    c.true("the feed resumes after the restart",
           wait(drv, "the event after the restart", lambda d: "AFTER_RESTART" in text_of(d, "ol.feed"), 60))
    c.eq("on the same page", drv.execute_script("return window.__same_page"), 7)
    positions = drv.execute_script("return [...document.querySelectorAll('ol.feed li .pos')].map(e => e.textContent)")
    c.eq("no event shown twice", len(positions), len(set(positions)))
    shot(drv, "11-overview-after-restart")
    drv.get(f"{BASE}/console/")
    mode = wait(drv, "the cluster panel", lambda d: text_of(d, "#cluster-mode").startswith("Cluster") and
                text_of(d, "#cluster-mode"))
    c.eq("the overview shows the cluster", mode, "Cluster of 1 member(s), 64 shards")
    c.true("with the member and the shards it holds",
           wait(drv, "the members table", lambda d: "console-node" in text_of(d, "section[aria-label='Cluster'] table")
                and "64" in text_of(d, "section[aria-label='Cluster'] table")))
    shot(drv, "11b-overview-cluster")

    # --- narrow windows: the run page still reads
    drv.set_window_size(420, 800)
    drv.get(f"{BASE}/console/executions/{eid}")
    wait(drv, "the narrow run page", lambda d: "completed" in text_of(d, "#run-status"))
    c.true("no page-wide horizontal scroll", drv.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"))
    shot(drv, "12-execution-narrow")
finally:
    drv.quit()
    srv.stop()
c.finish()
