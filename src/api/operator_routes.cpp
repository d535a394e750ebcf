// The operator surface (issue #21, spec §9.5): inspection endpoints operators run every day.
// So far: the Slurm SSH credential slots (names and which files are present, never contents).
#include "adapters/credential_slots.hpp"
#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/handler_support.hpp"
#include "api/route_table.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

json::object slot_json(const adapters::credential_slot& s) {
  return {{"name", s.name},
          {"private_key", s.private_key},
          {"public_key", s.public_key},
          {"passphrase", s.passphrase},
          {"known_hosts", s.known_hosts},
          {"safe_permissions", s.safe_permissions}};
}

response list_credentials(app_context& ctx, request&) {
  json::array slots;
  for (const auto& s : adapters::list_credential_slots(ctx.ssh_credentials_dir))
    slots.push_back(slot_json(s));
  return json_response(200, json::object{{"configured", !ctx.ssh_credentials_dir.empty()},
                                         {"slots", std::move(slots)}});
}

response get_credential(app_context& ctx, request& req) {
  const auto& name = req.path_params.at("slot");
  if (!adapters::valid_slot_name(name))
    fail(400, "invalid_parameter", "a slot name is 1..64 of A-Z a-z 0-9 . _ - (no leading dot)",
         "slot");
  auto s = adapters::find_credential_slot(ctx.ssh_credentials_dir, name);
  if (!s) fail(404, "not_found", "no credential slot named " + name, "slot");
  return json_response(200, slot_json(*s));
}

}  // namespace

void add_operator_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  r.add("GET", v2 + "/slurm/credentials", auth_level::superuser, bind(list_credentials),
        operation("list_slurm_credentials", "Slurm SSH credential slots", "slurm-credentials",
                  "The slots under BEAMPIPE_SSH_CREDENTIALS_DIR and which files each holds "
                  "(private_key, private_key.pub, passphrase, known_hosts); never their contents.")
            .returns("SlurmCredentialList"));
  r.add("GET", v2 + "/slurm/credentials/{slot}", auth_level::superuser, bind(get_credential),
        operation("get_slurm_credential", "One Slurm SSH credential slot", "slurm-credentials",
                  "Which files the slot holds, and whether the private key and passphrase are "
                  "readable by their owner only; never their contents.")
            .with_path(text_path("slot", "Slot name (deployment.ssh_credential)"))
            .returns("SlurmCredentialSlot")
            .fails({404}));
}

}  // namespace beampipe::api
