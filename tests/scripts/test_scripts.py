"""scripts/bootstrap and scripts/build on a machine that lacks something, with stand-in
dpkg-query, apt-get, id, npm and cmake first on PATH: nothing is installed and nothing is built.

Issue #15: bootstrap's EXIT trap returned 1 when a policy-rc.d already existed, so the first run
on a fresh container exited 1 right after "bootstrap: done" without a word.
"""
import os
import stat
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
failures = []


def check(what, cond, detail=""):
    if not cond:
        failures.append(f"{what}{': ' + detail if detail else ''}")


def stand_ins(folder):
    def put(name, text):
        p = os.path.join(folder, name)
        with open(p, "w") as f:
            f.write("#!/bin/sh\n" + text)
        os.chmod(p, stat.S_IRWXU)
    # Reports every package installed except those listed in FAKE_MISSING.
    put("dpkg-query", 'for a; do pkg=$a; done\n'
        'case " $FAKE_MISSING " in *" $pkg "*) exit 1;; esac\n'
        'printf "install ok installed"\n')
    # Records each call, and whether the service policy existed while packages were installed.
    put("apt-get", 'echo "$*" >> "$FAKE_LOG"\n'
        'case "$*" in *" install "*)\n'
        '  if [ -e "$BEAMPIPE_POLICY_RC_D" ]; then echo policy-present >> "$FAKE_LOG"; fi\n'
        '  exit "${FAKE_INSTALL_RC:-0}";;\nesac\nexit 0\n')
    put("id", 'echo 0\n')
    put("npm", 'exit 0\n')
    put("cmake", 'case "$*" in *"-S "*)\n'
        '  echo "-- The CXX compiler identification is GNU 12.2.0"\n'
        '  echo "CMake Error at CMakeLists.txt:37 (message):"\n'
        '  echo "  CAF 0.17 not found: run scripts/bootstrap"\n'
        '  exit 1;;\nesac\necho "cmake --build must not run after a failed configure" >&2; exit 3\n')


def run(script, tmp, missing="", policy_exists=False, install_rc=0, args=()):
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir, exist_ok=True)
    stand_ins(bindir)
    policy = os.path.join(tmp, "policy-rc.d")
    if os.path.exists(policy):
        os.remove(policy)
    if policy_exists:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# the image's own policy\nexit 101\n")
    log = os.path.join(tmp, "apt.log")
    if os.path.exists(log):
        os.remove(log)
    env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], FAKE_MISSING=missing,
               FAKE_LOG=log, FAKE_INSTALL_RC=str(install_rc), BEAMPIPE_POLICY_RC_D=policy,
               BEAMPIPE_BUILD_DIR=os.path.join(tmp, "build"))
    p = subprocess.run([os.path.join(ROOT, "scripts", script), *args], env=env,
                       capture_output=True, text=True, timeout=60)
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    return p, calls, policy


with tempfile.TemporaryDirectory() as tmp:
    # One package missing, the image already has a policy-rc.d: the case that exited 1.
    p, calls, policy = run("bootstrap", tmp, missing="wabt", policy_exists=True)
    check("bootstrap with an existing policy-rc.d exits 0", p.returncode == 0,
          f"rc={p.returncode} stderr={p.stderr!r}")
    check("it installs the missing package", any(c.startswith("-o DPkg::Lock::Timeout=300 install")
                                                 and c.endswith(" wabt") for c in calls), repr(calls))
    check("it says it is done", "bootstrap: done" in p.stdout, p.stdout)
    check("the image's policy-rc.d is kept as it was",
          os.path.exists(policy) and "the image's own policy" in open(policy).read())
    check("no ERROR line on success", "ERROR" not in p.stderr, p.stderr)

    # One package missing, no policy-rc.d: one is put in place for the install and removed after.
    p, calls, policy = run("bootstrap", tmp, missing="wabt")
    check("bootstrap without a policy-rc.d exits 0", p.returncode == 0,
          f"rc={p.returncode} stderr={p.stderr!r}")
    check("services are held back during the install", "policy-present" in calls, repr(calls))
    check("its own policy-rc.d is removed after", not os.path.exists(policy))

    # Nothing missing: no apt-get at all.
    p, calls, _ = run("bootstrap", tmp)
    check("bootstrap with nothing missing exits 0", p.returncode == 0, p.stderr)
    check("nothing missing touches no package manager", calls == [], repr(calls))

    # A real failure is reported as one ERROR line naming the step, and the exit is non-zero.
    p, calls, policy = run("bootstrap", tmp, missing="wabt", install_rc=100)
    check("a failed install exits non-zero", p.returncode != 0, f"rc={p.returncode}")
    check("a failed install names what failed", "ERROR: apt-get install failed" in p.stderr,
          p.stderr)
    check("the policy-rc.d is removed after a failure too", not os.path.exists(policy))

    # scripts/build: a failed configure prints CMake's error and stops before compiling.
    p, _, _ = run("build", tmp)
    check("a failed configure exits non-zero", p.returncode == 1, f"rc={p.returncode}")
    check("the CMake error is printed", "CMake Error at CMakeLists.txt:37" in p.stderr
          and "CAF 0.17 not found" in p.stderr, p.stderr)
    check("the step is named", 'ERROR: step "cmake configure" failed' in p.stderr, p.stderr)
    check("nothing is compiled after it", "must not run" not in p.stderr, p.stderr)

    # scripts/run stops at a failed build with the build's ERROR line and its own.
    p, _, _ = run("run", tmp, args=("--demo",))
    check("scripts/run stops on a failed build", p.returncode != 0, f"rc={p.returncode}")
    check("scripts/run names its failed step", 'run: ERROR: step "build" failed' in p.stderr,
          p.stderr)

for f in failures:
    print("FAIL", f)
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
