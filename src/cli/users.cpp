#include "cli/users.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "api/auth_tokens.hpp"
#include "domain/aggregates.hpp"
#include "store/db.hpp"

namespace beampipe::cli {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string admin_password() {
  if (auto p = env("BEAMPIPE_ADMIN_PASSWORD"); !p.empty()) return p;
  auto file = env("BEAMPIPE_ADMIN_PASSWORD_FILE");
  if (file.empty()) return "";
  std::ifstream in(file);
  if (!in) throw std::runtime_error("BEAMPIPE_ADMIN_PASSWORD_FILE cannot be read");
  std::string line;
  std::getline(in, line);
  return line;
}
}  // namespace

void bootstrap_first_superuser(actors::runtime& rt, const std::string& conninfo) {
  auto c = store::connect(conninfo, "beampipe-bootstrap");
  {
    pqxx::read_transaction tx{*c};
    if (!tx.exec("SELECT 1 FROM events WHERE event_type = 'UserCreated' LIMIT 1").empty()) return;
  }
  auto username = env("BEAMPIPE_ADMIN_USERNAME");
  auto password = admin_password();
  if (username.empty() || password.empty()) {
    spdlog::warn(
        "no user exists yet: set BEAMPIPE_ADMIN_USERNAME and BEAMPIPE_ADMIN_PASSWORD (or "
        "BEAMPIPE_ADMIN_PASSWORD_FILE) to create the first superuser at start");
    return;
  }
  auto email = env("BEAMPIPE_ADMIN_EMAIL");
  if (email.empty()) email = username + "@localhost";
  auto uuid = domain::user_uuid(username);
  actors::command_request cr;
  cr.stream_id = domain::user_stream_id(uuid);
  cr.cmd = {"create",
            {{"username", username}, {"email", email}, {"is_superuser", true}},
            "system:bootstrap"};
  auto r = rt.send_sync(std::move(cr));
  if (r.status >= 400 && r.code != "username_taken")
    throw std::runtime_error("cannot create the first superuser: " + r.message);
  pqxx::work tx{*c};
  tx.exec_params(
      "INSERT INTO user_credentials (user_uuid, password_hash) VALUES ($1::uuid, $2) "
      "ON CONFLICT (user_uuid) DO NOTHING",
      uuid, api::hash_password(password));
  tx.commit();
  spdlog::info("created the first superuser '{}'", username);
}

}  // namespace beampipe::cli
