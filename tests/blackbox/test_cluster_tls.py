"""Cluster members authenticate each other with TLS (issue #23): with
BEAMPIPE_CLUSTER_TLS_{CERT,KEY,CA}, the registry is published through caf::openssl and every
connection verifies both certificates. Two nodes of one CA share the shards and forward commands
to each other; a node whose certificate comes from another CA, and a node without TLS, cannot
join (they stop with a clear error and take no shard); a TLS client without a certificate and
random bytes are turned away; the members keep serving (reconnecting if CAF dropped their
connection). Half a TLS configuration, a key
that is not the certificate's and a certificate that does not chain to the CA file stop the
start with the file's name. Production accepts a TLS cluster port (security check)."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from cluster import held_by, replay_verifies, stop_all
from cluster import view as cluster_view
from harness import V2, Checks, Server, fresh_database, free_port, wait_for

BIN = os.environ["BEAMPIPE_BIN"]
SHARDS = 16
c = Checks()
db = fresh_database()
pki = tempfile.mkdtemp(prefix="beampipe-cluster-tls-")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=pki)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}")


def make_cert(name, ca):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2")
    os.chmod(os.path.join(pki, f"{name}.key"), 0o600)


make_ca("cluster-ca")
make_ca("other-ca")
for n in ("node-a", "node-b"):
    make_cert(n, "cluster-ca")
make_cert("rogue", "other-ca")


def path(name):
    return os.path.join(pki, name)


def env_of(name, cert=None, key=None, ca=None, port=None):
    e = {"BEAMPIPE_NODE_ID": name, "BEAMPIPE_CLUSTER_BIND_ADDR": f"127.0.0.1:{port or free_port()}",
         "BEAMPIPE_CLUSTER_SHARDS": str(SHARDS), "BEAMPIPE_CLUSTER_LEASE_SECONDS": "2",
         "BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS": "1",
         "BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": ""}
    for var, value in (("CERT", cert), ("KEY", key), ("CA", ca)):
        if value:
            e["BEAMPIPE_CLUSTER_TLS_" + var] = path(value)
    return e


def tls_node(name, ca="cluster-ca", cert=None, port=None):
    return Server(conninfo=db, extra_env=env_of(name, f"{cert or name}.pem", f"{cert or name}.key",
                                                f"{ca}.pem", port))


def start_fails(extra_env):
    """Starts a node expected to stop before serving; answers its error output."""
    try:
        srv = Server(conninfo=db, extra_env=extra_env)
    except RuntimeError as e:
        return str(e)
    srv.stop()
    return ""


def register(srv, ident):
    st, body, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                           "source_identifier": ident})
    if st != 200:
        print("refused:", st, body)
    return st


a = b = None
try:
    # Settings that cannot work stop the start, naming the file.
    err = start_fails(env_of("half", cert="node-a.pem"))
    c.true("half a TLS configuration is refused", "set all three or none" in err)
    err = start_fails(env_of("mismatch", "node-a.pem", "node-b.key", "cluster-ca.pem"))
    c.true("a key that is not the certificate's is refused, naming it",
           "BEAMPIPE_CLUSTER_TLS_KEY" in err and "node-b.key" in err)
    err = start_fails(env_of("stray", "rogue.pem", "rogue.key", "cluster-ca.pem"))
    c.true("a certificate that does not chain to the CA file is refused",
           "does not chain to BEAMPIPE_CLUSTER_TLS_CA" in err)
    err = start_fails(env_of("missing", "nowhere.pem", "node-a.key", "cluster-ca.pem"))
    c.true("a missing certificate file is refused, naming it", "nowhere.pem" in err)

    a_port = free_port()
    a = tls_node("node-a", port=a_port)
    a.wait_ready()
    token = a.token
    b = tls_node("node-b")
    b.token = token
    b.wait_ready()
    c.true("two members of one CA share the shards",
           wait_for("an even spread", lambda: held_by(a) == {"node-a": 8, "node-b": 8}, timeout=30))
    c.true("and connect to each other over TLS",
           wait_for("TLS connections", lambda: any("over TLS" in line for line in list(a.log)) and
                    any("over TLS" in line for line in list(b.log)), timeout=30))
    answers = [register(a if i % 2 else b, f"TLS_{i:02d}") for i in range(12)]
    c.eq("commands through either member are served (forwarded over TLS)", answers, [200] * 12)
    forwarded = [int(line.split()[-1]) for srv in (a, b)
                 for line in srv.request("GET", V2 + "/metrics")[3].splitlines()
                 if line.startswith("beampipe_cluster_forwarded_commands_total ")]
    c.true(f"some of them forwarded ({forwarded})", len(forwarded) == 2 and sum(forwarded) > 0)

    # A node with a certificate from another CA: the handshakes fail both ways, it gives up
    # after its join deadline and takes nothing.
    err = start_fails(env_of("rogue", "rogue.pem", "rogue.key", "other-ca.pem"))
    c.true("a node with a certificate from another CA cannot join",
           "cannot join the cluster" in err and "over TLS" in err)
    err = start_fails(env_of("plain"))
    c.true("nor can a node without TLS", "cannot join the cluster" in err)
    view = cluster_view(a)
    c.eq("neither became a member or held a shard",
         (sorted(m["node"] for m in view["members"]), held_by(a)),
         (["node-a", "node-b"], {"node-a": 8, "node-b": 8}))

    # Strangers at the port: a TLS client without a certificate, then random bytes.
    ctx = ssl.create_default_context(cafile=path("cluster-ca.pem"))
    ctx.check_hostname = False
    refused = False
    try:
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", a_port), timeout=5)) as t:
            t.sendall(b"hello")
            refused = t.recv(16) == b""
    except (ssl.SSLError, ConnectionError, socket.timeout):
        refused = True
    c.true("a TLS client without a certificate is refused", refused)
    with socket.create_connection(("127.0.0.1", a_port), timeout=5) as raw:
        try:
            raw.sendall(os.urandom(65536))
            raw.recv(16)
        except (ConnectionError, socket.timeout):
            pass
    # CAF 0.17's TLS layer may drop the members' own connection when a stranger's handshake
    # fails; each member notices, forgets the peer and connects again next round. Commands meet
    # a 503 shard_moved meanwhile, and a retry lands each exactly once.
    def register_retrying(srv, ident, deadline):
        while True:
            st = register(srv, ident)
            if st != 503 or time.time() > deadline:
                return st
            time.sleep(0.5)
    deadline = time.time() + 30
    answers = [register_retrying(a if i % 2 else b, f"AFTER_STRANGERS_{i}", deadline) for i in range(8)]
    c.eq("the members go on serving (retrying a 503 while they reconnect)", answers, [200] * 8)
    c.true("both members are still running", a.proc.poll() is None and b.proc.poll() is None)
    st, rows, _, _ = a.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=100")
    idents = [r["source_identifier"] for r in rows]
    c.true("every command landed exactly once",
           sorted(i for i in idents if i.startswith("AFTER_STRANGERS_")) ==
           [f"AFTER_STRANGERS_{i}" for i in range(8)] and len(idents) == len(set(idents)))

    # Production requires TLS on a cluster port, and accepts it when set.
    env = dict(os.environ, DATABASE_URL=db, BEAMPIPE_ENV="production",
               **env_of("check", "node-a.pem", "node-a.key", "cluster-ca.pem"))
    r = subprocess.run([BIN, "security", "check"], env=env, capture_output=True, text=True, timeout=60)
    c.true("the security check passes cluster.transport with TLS",
           "cluster.transport" in r.stdout and "members authenticate each other with TLS" in r.stdout)

    b.stop()
    a.stop()
    c.true("replay --verify passes", replay_verifies(db))
finally:
    stop_all((a, b))
    shutil.rmtree(pki, ignore_errors=True)
c.finish()
