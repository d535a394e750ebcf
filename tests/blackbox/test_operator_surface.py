"""The operator surface of issue #21, part by part. The Slurm SSH credential slots: which files
each slot holds and whether its secrets are owner-only, never their contents; slots are
directories with a plain name (no dot files, no symlinks followed); superusers only."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import V2, Checks, Server, create_user, fresh_database  # noqa: E402

MARKER = "SECRET-KEY-MATERIAL-7f3a"
c = Checks()
tmp = tempfile.mkdtemp(prefix="bp-creds-")
creds = os.path.join(tmp, "creds")


def put(path, text, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


put(os.path.join(creds, "setonix", "private_key"), MARKER + "\n", 0o600)
put(os.path.join(creds, "setonix", "private_key.pub"), "ssh-ed25519 AAAA " + MARKER + "\n", 0o644)
put(os.path.join(creds, "setonix", "known_hosts"), "[h]:22 ssh-ed25519 AAAA\n", 0o644)
put(os.path.join(creds, "loose", "private_key"), MARKER + "\n", 0o644)
put(os.path.join(creds, "loose", "passphrase"), MARKER + "\n", 0o600)
put(os.path.join(creds, ".hidden", "private_key"), MARKER, 0o600)
put(os.path.join(creds, "not-a-slot"), MARKER, 0o600)
os.symlink(os.path.join(creds, "setonix"), os.path.join(creds, "linked"))

db = fresh_database()
srv = Server(conninfo=db, extra_env={"BEAMPIPE_SSH_CREDENTIALS_DIR": creds})
try:
    srv.wait_ready()
    st, body, _, text = srv.request("GET", V2 + "/slurm/credentials")
    c.eq("listed", st, 200)
    c.eq("configured", body["configured"], True)
    c.eq("slots are the plain-named directories", [s["name"] for s in body["slots"]], ["loose", "setonix"])
    by = {s["name"]: s for s in body["slots"]}
    c.eq("setonix's files", {k: by["setonix"][k] for k in ("private_key", "public_key", "passphrase", "known_hosts")},
         {"private_key": True, "public_key": True, "passphrase": False, "known_hosts": True})
    c.eq("an owner-only key is safe", by["setonix"]["safe_permissions"], True)
    c.eq("a key others can read is not", by["loose"]["safe_permissions"], False)
    c.true("no file content in the answer", MARKER not in text)
    st, one, _, text = srv.request("GET", V2 + "/slurm/credentials/setonix")
    c.eq("one slot", (st, one["name"], one["known_hosts"]), (200, "setonix", True))
    c.true("no file content in that answer", MARKER not in text)
    for name, want in [("missing", 404), ("linked", 404), (".hidden", 400), ("%2e%2e", 400), ("a%20b", 400)]:
        st, err, _, _ = srv.request("GET", V2 + "/slurm/credentials/" + name)
        c.eq(f"slot {name}", (st, err.get("field") if isinstance(err, dict) else None), (want, "slot"))

    c.eq("a plain user", create_user(db, "viewer", "viewer-password-1"), 0)
    token = srv.login("viewer", "viewer-password-1")["access_token"]
    st, _, _, _ = srv.request("GET", V2 + "/slurm/credentials", headers={"Authorization": "Bearer " + token})
    c.eq("a plain user may not look", st, 403)
    srv.stop()

    srv = Server(conninfo=db)
    srv.wait_ready()
    st, body, _, _ = srv.request("GET", V2 + "/slurm/credentials")
    c.eq("unconfigured: nothing", (st, body["configured"], body["slots"]), (200, False, []))
    st, _, _, _ = srv.request("GET", V2 + "/slurm/credentials/setonix")
    c.eq("unconfigured: no slot", st, 404)
finally:
    srv.stop()
c.finish()
