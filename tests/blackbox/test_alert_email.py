"""Email alert channels against a real SMTP server on loopback (aiosmtpd, Debian
python3-aiosmtpd): implicit TLS and STARTTLS, AUTH with the stored password, the server's
certificate verified (an untrusted one is refused), the message's headers and JSON body, and
the password kept out of answers, events and logs."""
import asyncio
import email
import email.header
import email.policy
import json
import os
import ssl
import subprocess
import tempfile
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from harness import Checks, Server, free_port, fresh_database, wait_for

V2 = "/api/v2"
PASSWORD = "smtp-SECRET-pw7"
PSQL = "/usr/lib/postgresql/15/bin/psql"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """A CA, a server certificate it signs (127.0.0.1, localhost), and an unrelated self-signed one."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=beampipe test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem",
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)


class Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "message": email.message_from_bytes(envelope.content, policy=email.policy.default)})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"alerts" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


c = Checks()
work = tempfile.mkdtemp(prefix="bp-smtp-")
make_certs(work)
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(os.path.join(work, "server.pem"), os.path.join(work, "server.key"))
rogue = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
rogue.load_cert_chain(os.path.join(work, "rogue.pem"), os.path.join(work, "rogue.key"))
inbox = Inbox()
ports = {"implicit": free_port(), "starttls": free_port(), "rogue": free_port()}
controllers = [
    Controller(inbox, hostname="127.0.0.1", port=ports["implicit"], ssl_context=tls, authenticator=authenticator,
               # The whole session is TLS; aiosmtpd only counts STARTTLS as TLS for AUTH.
               auth_required=True, auth_require_tls=False),
    Controller(inbox, hostname="127.0.0.1", port=ports["starttls"], tls_context=tls, require_starttls=True,
               authenticator=authenticator, auth_required=True, auth_require_tls=True),
    Controller(inbox, hostname="127.0.0.1", port=ports["rogue"], ssl_context=rogue, authenticator=authenticator),
]
for ctl in controllers:
    ctl.start()

db = fresh_database()
srv = Server(conninfo=db, extra_env={"BEAMPIPE_ALERT_CA_FILE": os.path.join(work, "ca.pem"),
                                     "BEAMPIPE_ALERT_SCAN_MS": "100", "BEAMPIPE_ALERT_EVALUATOR_INTERVAL_SECONDS": "1",
                                     "BEAMPIPE_ALERT_WEBHOOK_TIMEOUT_MS": "5000"})
try:
    srv.wait_ready()

    def channel(name, port, security="tls", password=PASSWORD):
        cfg = {"smtp_host": "127.0.0.1", "port": port, "security": security, "from": "beampipe@example.org",
               "to": ["ops@example.org", "science@example.org"], "user": "alerts", "password": password}
        st, row, _, _ = srv.request("POST", V2 + "/notification-channels",
                                    {"name": name, "kind": "email", "config": cfg})
        if st != 201:
            raise RuntimeError(f"channel not created: {st} {row}")
        return row

    def test(row):
        return srv.request("POST", f"{V2}/notification-channels/{row['uuid']}/test")[1]

    implicit = channel("mail-tls", ports["implicit"])
    c.eq("the password is masked", implicit["config"]["password"], "***")
    c.eq("the rest is shown", (implicit["config"]["security"], implicit["config"]["port"], implicit["config"]["user"]),
         ("tls", ports["implicit"], "alerts"))
    st, body, _, _ = srv.request("POST", V2 + "/notification-channels", {"name": "x", "kind": "email", "config": {
        "smtp_host": "127.0.0.1", "to": ["ops@example.org"], "security": "plain"}})
    c.eq("plain SMTP is refused", (st, body.get("field")), (400, "config.security"))

    # --- implicit TLS with AUTH
    t = test(implicit)
    c.eq("test over implicit TLS", (t["status"], t.get("error")), ("sent", None))
    got = [m for m in inbox.messages if m["message"]["Message-ID"] == f"<{t['delivery_id']}@beampipe>"]
    c.eq("one message", len(got), 1)
    if got:
        m = got[0]
        c.eq("envelope", (m["from"], sorted(m["to"])), ("beampipe@example.org", ["ops@example.org", "science@example.org"]))
        c.eq("subject", str(m["message"]["Subject"]).split(" for channel")[0],
             "[beampipe] info \u2014 Test notification from beampipe")
        c.eq("delivery header", m["message"]["X-Beampipe-Delivery"], t["delivery_id"])
        body = json.loads(m["message"].get_content())
        c.eq("the body is the payload as JSON", (body["alert"], body["channel_id"]), ("channel.test", implicit["uuid"]))

    # --- STARTTLS
    t2 = test(channel("mail-starttls", ports["starttls"], security="starttls"))
    c.eq("test over STARTTLS", (t2["status"], t2.get("error")), ("sent", None))

    # --- refusals: a wrong password, a certificate nobody vouches for
    t3 = test(channel("mail-badpw", ports["implicit"], password="wrong-password"))
    c.eq("a wrong password fails the delivery", t3["status"], "failed")
    print("wrong password:", t3.get("error"))
    c.true("the error does not carry the password", "wrong-password" not in t3.get("error", ""))
    t4 = test(channel("mail-rogue", ports["rogue"]))
    c.true("an untrusted certificate fails the delivery",
           t4["status"] == "failed" and ("certificate" in t4["error"].lower() or "ssl" in t4["error"].lower()))
    c.eq("nothing reached the rogue server", [m for m in inbox.messages
                                            if m["message"]["Message-ID"] == f"<{t4['delivery_id']}@beampipe>"], [])

    # --- a rule delivers by email through the worker: no discovery has changed anything in the
    #     last minute of this fresh database, so a discovery_stall rule fires on its first round.
    st, rule, _, _ = srv.request("POST", V2 + "/alert-rules", {
        "name": "stall", "trigger_kind": "discovery_stall", "trigger_config": {"window_minutes": 1},
        "channel_ids": [implicit["uuid"]]})
    c.eq("rule created", st, 201)
    d = wait_for("the stall alert by email", lambda: [
        x for x in srv.request("GET", V2 + f"/alert-deliveries?rule_id={rule['uuid']}")[1] if x["status"] == "sent"],
        timeout=30, srv=srv)[0]
    got = [m for m in inbox.messages if m["message"]["Message-ID"] == f"<{d['uuid']}@beampipe>"]
    c.eq("the worker's email arrived once", len(got), 1)
    if got:
        c.true("its subject names the alert", "no discovery changes" in str(got[0]["message"]["Subject"]))

    # --- the password is nowhere but the secret table
    rows = subprocess.run([PSQL, db, "-tAqc", f"SELECT count(*) FROM events WHERE data::text LIKE '%{PASSWORD}%' "
                           f"OR metadata::text LIKE '%{PASSWORD}%'"], capture_output=True, text=True).stdout.strip()
    c.eq("no password in any event", rows, "0")
    st, listed, _, _ = srv.request("GET", V2 + "/notification-channels")
    c.true("no password in the list", PASSWORD not in json.dumps(listed))
    c.true("no password in the logs", not any(PASSWORD in line for line in srv.log))
finally:
    srv.stop()
    for ctl in controllers:
        ctl.stop()
c.finish()
