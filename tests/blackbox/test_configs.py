"""Black-box tests of project-config uploads and deployment profiles."""
import json
import os

from harness import Checks, Server

REF = os.path.join(os.path.dirname(__file__), "..", "..", "config", "reference")
c = Checks()
srv = Server()
srv.wait_ready()
V2 = "/api/v2"


def read(name):
    with open(os.path.join(REF, name), "rb") as f:
        return f.read()


def upload(body, ctype="application/yaml"):
    return srv.request("POST", V2 + "/project-configs", raw_body=body, headers={"Content-Type": ctype})


try:
    wallaby = read("wallaby_hires.v1.yaml")
    st, rep, _, _ = upload(wallaby)
    c.eq("upload creates revision 1", (st, rep["valid"], rep["version"], rep["created"]), (201, True, 1, True))
    sha = rep["spec_sha256"]
    st, rep2, _, _ = upload(wallaby)
    c.eq("identical re-upload creates nothing", (st, rep2["version"], rep2["created"]), (200, 1, False))
    st, row, _, _ = srv.request("GET", V2 + "/project-configs/wallaby_hires")
    c.eq("get active config", (st, row["version"], row["active"], row["spec_sha256"]), (200, 1, True, sha))
    as_json = json.dumps(dict(reversed(list(row["spec"].items())))).encode()
    st, rep3, _, _ = upload(as_json, "application/json")
    c.eq("same spec as JSON in other key order", (st, rep3["spec_sha256"], rep3["created"]), (200, sha, False))

    changed = wallaby.replace(b"timeout_seconds: 90", b"timeout_seconds: 120")
    st, rep4, _, _ = upload(changed)
    c.eq("changed config makes revision 2", (st, rep4["version"], rep4["created"]), (201, 2, True))
    c.true("new sha", rep4["spec_sha256"] != sha)
    st, versions, _, _ = srv.request("GET", V2 + "/project-configs/wallaby_hires/versions")
    c.eq("versions newest first", [(v["version"], v["active"]) for v in versions], [(2, True), (1, False)])
    st, projects, _, _ = srv.request("GET", V2 + "/projects")
    c.eq("projects lists the active revision", [(p["project_id"], p["version"]) for p in projects], [("wallaby_hires", 2)])
    st, contract, _, _ = srv.request("GET", V2 + "/projects/contracts/wallaby_hires")
    c.eq("contract", (st, contract["valid"], contract["spec_sha256"]), (200, True, rep4["spec_sha256"]))
    st, evs, _, _ = srv.request("GET", V2 + "/projects/wallaby_hires/events")
    c.eq("config.activated provenance", [(e["event_type"], e["payload"]["version"]) for e in evs],
         [("config.activated", 2), ("config.activated", 1)])

    # Invalid configs: 422 with diagnostics naming paths; nothing stored.
    broken = wallaby.replace(b"kind: extract_digits", b"kind: no_such_transform")
    st, body, _, _ = upload(broken)
    c.eq("invalid config refused", (st, body["code"]), (422, "invalid_config"))
    c.true("diagnostics carry paths", all("path" in e and "code" in e for e in body["errors"]))
    c.true("transform kind path named", any("askap_sbid" in e["path"] for e in body["errors"]))
    st, body, _, _ = upload(b"a: [unclosed")
    c.eq("unparseable YAML", st, 422)
    st, body, _, _ = upload(b"{}", "image/png")
    c.eq("unsupported media type", st, 415)
    st, versions, _, _ = srv.request("GET", V2 + "/project-configs/wallaby_hires/versions")
    c.eq("invalid uploads stored nothing", len(versions), 2)
    c.eq("unknown project", srv.request("GET", V2 + "/project-configs/nope")[0], 404)

    # Deployment profiles
    dim = json.loads(read("deployment_profile.dlg-dim.json"))
    st, p, _, _ = srv.request("POST", V2 + "/deployment-profiles", dim)
    c.eq("create profile", (st, p["name"], p["revision"], p["is_default"]), (201, "dlg-dim", 1, True))
    c.true("profile has a spec sha", len(p["spec_sha256"]) == 64)
    pid = p["uuid"]
    st, p2, _, _ = srv.request("PATCH", f"{V2}/deployment-profiles/{pid}", {"description": "edited"},
                               headers={"Content-Type": "application/merge-patch+json"})
    c.eq("PATCH changes only what is sent", (st, p2["description"], p2["deployment"], p2["revision"]),
         (200, "edited", p["deployment"], 2))
    st, p3, _, _ = srv.request("PATCH", f"{V2}/deployment-profiles/{pid}", {"deployment": {"deploy_port": 9001}})
    c.eq("nested PATCH merges", (st, p3["deployment"]["deploy_port"], p3["deployment"]["deploy_host"]), (200, 9001, "dlg-dim"))
    st, body, _, _ = srv.request("PATCH", f"{V2}/deployment-profiles/{pid}", {"translation": {"num_par": 0}})
    c.eq("invalid PATCH refused", st, 422)
    st, again, _, _ = srv.request("GET", f"{V2}/deployment-profiles/{pid}")
    c.eq("refused PATCH left the profile", again["revision"], 3)
    st, body, _, _ = srv.request("POST", V2 + "/deployment-profiles", dim)
    c.eq("duplicate name", (st, body["code"]), (409, "duplicate_name"))
    slurm = json.loads(read("deployment_profile.slurm-remote.json"))
    slurm["project_module"] = "wallaby_hires"
    slurm["is_default"] = True
    st, body, _, _ = srv.request("POST", V2 + "/deployment-profiles", slurm)
    c.eq("second default in scope refused", (st, body["code"]), (409, "default_exists"))
    slurm["is_default"] = False
    st, s, _, _ = srv.request("POST", V2 + "/deployment-profiles", slurm)
    c.eq("non-default profile", st, 201)
    st, s2, _, _ = srv.request("POST", f"{V2}/deployment-profiles/{s['uuid']}/default")
    c.eq("default switching", (st, s2["is_default"]), (200, True))
    st, d2, _, _ = srv.request("GET", f"{V2}/deployment-profiles/{pid}")
    c.eq("old default demoted", d2["is_default"], False)
    secret = dict(dim, name="with-secret")
    secret["deployment"] = dict(dim["deployment"], password="hunter2")
    st, body, _, text = srv.request("POST", V2 + "/deployment-profiles", secret)
    c.eq("secrets are refused", st, 422)
    c.true("secret not echoed", "hunter2" not in text)
    st, lst, _, _ = srv.request("GET", V2 + "/deployment-profiles?project_module=wallaby_hires")
    c.eq("list by project", sorted(x["name"] for x in lst), sorted(["dlg-dim", slurm["name"]]))
    st, lst, _, _ = srv.request("GET", V2 + "/deployment-profiles?project_module=other")
    c.eq("other project sees only globals", lst, [])
    c.eq("delete profile", srv.request("DELETE", f"{V2}/deployment-profiles/{pid}")[0], 204)
    c.eq("deleted profile gone", srv.request("GET", f"{V2}/deployment-profiles/{pid}")[0], 404)
    c.eq("delete twice", srv.request("DELETE", f"{V2}/deployment-profiles/{pid}")[0], 404)
    # The slurm profile is now wallaby_hires' default, so the re-created dlg-dim may not be one.
    st, body, _, _ = srv.request("POST", V2 + "/deployment-profiles", dim)
    c.eq("re-created name, default taken", (st, body["code"]), (409, "default_exists"))
    st, p4, _, _ = srv.request("POST", V2 + "/deployment-profiles", dict(dim, is_default=False))
    c.eq("name reusable after delete", (st, p4["name"]), (201, "dlg-dim"))
finally:
    srv.stop()
c.finish()
