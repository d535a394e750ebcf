"""A local installation (issue #21, spec §11.1 Run family): `beampipe init` writes the settings
file, owner-only generated secrets and the examples, and refuses to overwrite without --force
(secrets are kept even then); the settings file is read under the environment (its origin shown
as "file") and a bad one is refused by file and line; `beampipe setup` takes a fresh folder from
nothing to a started, signed-in, uploaded installation whose doctor passes, and a second run
changes nothing."""
import hashlib
import json
import os
import stat
import subprocess
import tempfile

from harness import Checks, fresh_database, free_port

c = Checks()
BIN = os.environ["BEAMPIPE_BIN"]
home = tempfile.mkdtemp(prefix="bp-install-")
config_home = tempfile.mkdtemp(prefix="bp-install-xdg-")
base_env = {k: v for k, v in os.environ.items() if not k.startswith("BEAMPIPE_") and k != "DATABASE_URL"}
base_env.update(XDG_CONFIG_HOME=config_home, BEAMPIPE_METRICS_BIND_ADDR="127.0.0.1:0",
                BEAMPIPE_SCHEDULER_ENABLED="false")


def bp(*argv, env=None, stdin=subprocess.DEVNULL):
    r = subprocess.run([BIN, *argv], capture_output=True, text=True, env={**base_env, **(env or {})},
                       timeout=240, stdin=stdin)
    return r.returncode, r.stdout, r.stderr


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def settings(env):
    rc, out, err = bp("settings", "--json", env=env)
    assert rc == 0, err
    return {r["name"]: r for r in json.loads(out)}


d = os.path.join(home, "site")
envf = os.path.join(d, "beampipe.env")
started = False
try:
    # --- init
    rc, out, err = bp("init", "--directory", d, "--json")
    report = json.loads(out) if rc == 0 else {}
    c.eq("init answers what it created", (rc, len(report.get("created", []))), (0, 6))
    c.eq("the settings file and the secrets are owner-only",
         [mode(envf), mode(os.path.join(d, "secrets")), mode(os.path.join(d, "secrets/jwt_secret")),
          mode(os.path.join(d, "secrets/admin_password")), mode(os.path.join(d, "ssh"))],
         [0o600, 0o700, 0o600, 0o600, 0o700])
    secret = open(os.path.join(d, "secrets/jwt_secret")).read().strip()
    password = open(os.path.join(d, "secrets/admin_password")).read().strip()
    c.true("the secrets are long and random", len(secret) >= 64 and len(password) >= 24 and secret != password)
    text = open(envf).read()
    c.true("the settings file names the secret files and holds no secret",
           "BEAMPIPE_JWT_SECRET_FILE=" in text and secret not in text and password not in text)
    c.true("the example project and profile are there",
           os.path.isfile(os.path.join(d, "projects/wallaby_hires.yaml"))
           and os.path.isfile(os.path.join(d, "profiles/demo-dim.json")))
    before = {p: digest(p) for p in (envf, os.path.join(d, "projects/wallaby_hires.yaml"))}
    rc, out, err = bp("init", "--directory", d)
    c.eq("a second init is refused and names the files", (rc, envf in err), (1, True))
    c.eq("and changes nothing", {p: digest(p) for p in before}, before)
    open(os.path.join(d, "projects/wallaby_hires.yaml"), "a").write("# edited\n")
    rc, out, err = bp("init", "--directory", d, "--force", "--json")
    forced = json.loads(out) if rc == 0 else {}
    c.eq("--force replaces the files init owns", (rc, len(forced.get("replaced", []))), (0, 4))
    c.eq("and keeps the generated secrets",
         (open(os.path.join(d, "secrets/jwt_secret")).read().strip(), len(forced.get("kept", []))), (secret, 2))
    c.eq("the edited example is the shipped one again", digest(os.path.join(d, "projects/wallaby_hires.yaml")),
         before[os.path.join(d, "projects/wallaby_hires.yaml")])

    # --- the settings file under the environment
    s = settings({"BEAMPIPE_ENV_FILE": envf})
    c.eq("values from the file say so",
         (s["BEAMPIPE_DATA_DIR"]["value"], s["BEAMPIPE_DATA_DIR"]["origin"], s["BEAMPIPE_JWT_SECRET_FILE"]["origin"]),
         (os.path.join(d, "data"), "file", "file"))
    s = settings({"BEAMPIPE_ENV_FILE": envf, "BEAMPIPE_BIND_ADDR": "127.0.0.1:9999"})
    c.eq("a variable that is set wins over the file", (s["BEAMPIPE_BIND_ADDR"]["value"], s["BEAMPIPE_BIND_ADDR"]["origin"]),
         ("127.0.0.1:9999", "environment"))
    c.eq("without the file, the defaults", settings({})["BEAMPIPE_HOME"]["origin"], "default")
    rc, out, err = bp("settings", "--json", "--env-file", envf)
    c.eq("... as an option", (rc, {r["name"]: r for r in json.loads(out or "[]")}.get("BEAMPIPE_HOME", {}).get("origin")),
         (0, "file"))
    bad = os.path.join(home, "bad.env")
    for body, want in [("BEAMPIPE_BIND_ADDR=x:1\nBEAMPIPE_NOT_A_SETTING=1\n", f"{bad}:2:"),
                       ("BEAMPIPE_BIND_ADDR=a\nBEAMPIPE_BIND_ADDR=b\n", "set twice"),
                       ("BEAMPIPE_ENV_FILE=/etc/passwd\n", "not a setting a file can hold"),
                       ("BEAMPIPE_BIND_ADDR=\x01\n", "control characters"),
                       ("just words\n", "expected NAME=value")]:
        with open(bad, "w") as f:
            f.write(body)
        rc, out, err = bp("settings", env={"BEAMPIPE_ENV_FILE": bad})
        c.eq(f"a bad settings file is refused: {want}", (rc, want in err), (2, True))
    rc, out, err = bp("settings", env={"BEAMPIPE_ENV_FILE": os.path.join(home, "missing.env")})
    c.eq("a missing settings file is refused", (rc, "cannot read" in err), (2, True))
    with open(bad, "w") as f:
        f.write("# comment\n\nexport BEAMPIPE_LOG_LEVEL='debug'\nBEAMPIPE_JWT_SECRET=\"an inline secret value here\"\n")
    os.chmod(bad, 0o644)
    rc, out, err = bp("settings", env={"BEAMPIPE_ENV_FILE": bad})
    c.true("quotes, comments and export are read; a secret in a file others can read is warned of",
           rc == 0 and "BEAMPIPE_LOG_LEVEL=debug" in out and "chmod 600" in err
           and "an inline secret value here" not in out + err)

    # --- setup
    fresh = os.path.join(home, "fresh")
    rc, out, err = bp("setup", "--directory", fresh)
    c.eq("setup without a terminal asks for --yes and creates nothing", (rc, "--yes" in err, os.path.exists(fresh)),
         (2, True, False))
    db = fresh_database()
    port = free_port()
    run_env = {"DATABASE_URL": db, "BEAMPIPE_BIND_ADDR": f"127.0.0.1:{port}"}
    rc, out, err = bp("setup", "--directory", fresh, "--no-start", "--yes", "--json", env=run_env)
    steps = {s["step"]: s["status"] for s in json.loads(out)["steps"]} if rc == 0 else {}
    c.eq("--no-start: the installation is made, nothing is started",
         (rc, steps), (0, {"installation": "done", "service": "skipped"}))
    rc, out, err = bp("setup", "--directory", fresh, "--yes", "--json", env=run_env)
    started = rc == 0 or os.path.exists(os.path.join(fresh, "data/beampipe.pid"))
    answer = json.loads(out) if out.strip().startswith("{") else {"steps": []}
    steps = {s["step"]: s for s in answer["steps"]}
    c.eq("setup takes a fresh folder through every step",
         (rc, [s["status"] for s in answer["steps"]]), (0, ["done"] * 6))
    if rc != 0:
        print(out, err)
    c.true("the doctor passed", "0 failed" in steps.get("doctor", {}).get("detail", ""))
    c.true("the sign-in is kept owner-only for the next commands",
           mode(os.path.join(config_home, "beampipe/credentials.json")) == 0o600)
    rc, out, err = bp("status", "--json", env=run_env)
    c.eq("the operator commands work at once", rc, 0)
    rc, out, err = bp("setup", "--directory", fresh, "--yes", "--json", env=run_env)
    again = {s["step"]: s["detail"] for s in json.loads(out)["steps"]} if rc == 0 else {}
    c.true("a second setup changes nothing",
           rc == 0 and "already serving" in again.get("service", "") and "unchanged" in again.get("project", "")
           and "exists already" in again.get("profile", ""))
    rc, out, err = bp("stop", env={**run_env, "BEAMPIPE_ENV_FILE": os.path.join(fresh, "beampipe.env")})
    c.eq("the service stops by its settings file", (rc, "stopped" in out), (0, True))
    started = False
finally:
    if started:
        bp("stop", env={"BEAMPIPE_ENV_FILE": os.path.join(home, "fresh/beampipe.env")})
c.finish()
