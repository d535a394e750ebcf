#include "app/users.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/auth_tokens.hpp"
#include "domain/aggregates.hpp"
#include "projections/engine.hpp"
#include "projections/users/queries.hpp"
#include "store/db.hpp"
#include "util/ids.hpp"

namespace beampipe::app {

namespace {
std::string admin_password(const settings& s) {
  if (!s.admin_password.empty()) return s.admin_password;
  const auto& file = s.admin_password_file;
  if (file.empty()) return "";
  std::ifstream in(file);
  if (!in) throw std::runtime_error("BEAMPIPE_ADMIN_PASSWORD_FILE cannot be read");
  std::string line;
  std::getline(in, line);
  return line;
}
}  // namespace

namespace {
actors::command_reply send_user_command(actors::runtime& rt, const std::string& username,
                                        std::string name, boost::json::object body,
                                        const std::string& actor) {
  actors::command_request cr;
  cr.stream_id = domain::user_stream_id(domain::user_uuid(username));
  cr.cmd = {std::move(name), std::move(body), actor};
  return rt.send_sync(std::move(cr));
}

// 144 random bits as hex: safe to paste into a shell or a JSON body.
std::string generate_password() { return util::random_hex(18); }

// Written beside, then renamed over: the file is whole or absent, and never readable by others.
void write_secret_file(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
}

void check_password(const std::string& password) {
  if (password.size() < 8) throw std::invalid_argument("password: must be at least 8 characters");
  if (password.size() > 1024) throw std::invalid_argument("password: at most 1024 characters");
}
}  // namespace

int64_t bootstrap_first_superuser(actors::runtime& rt, store::database& db, const settings& s,
                                  const std::filesystem::path& generated_password_file) {
  auto c = db.connect(store::db_role::maintenance, "bootstrap");
  {
    pqxx::read_transaction tx{*c};
    if (!tx.exec("SELECT 1 FROM events WHERE event_type = 'UserCreated' LIMIT 1").empty()) return 0;
  }
  auto username = s.admin_username;
  auto password = admin_password(s);
  bool generated = false;
  if (password.empty() && !generated_password_file.empty()) {
    if (username.empty()) username = "admin";
    password = generate_password();
    // Kept before the user exists: a crash in between leaves a file for a user that is not
    // there, and the next start writes a new one.
    write_secret_file(generated_password_file, password + "\n");
    generated = true;
  }
  if (username.empty() || password.empty()) {
    spdlog::warn(
        "no user exists yet: set BEAMPIPE_ADMIN_USERNAME and BEAMPIPE_ADMIN_PASSWORD (or "
        "BEAMPIPE_ADMIN_PASSWORD_FILE) to create the first superuser at start, or run "
        "`beampipe admin create-user --username NAME --password-file FILE --email ADDRESS "
        "--superuser`");
    return 0;
  }
  auto email = s.admin_email;
  if (email.empty()) email = username + "@localhost";
  auto r = send_user_command(rt, username, "create",
                             {{"username", username}, {"email", email}, {"is_superuser", true}},
                             "system:bootstrap");
  if (!r.ok() && r.code != "username_taken")
    throw std::runtime_error("cannot create the first superuser: " + r.message);
  pqxx::work tx{*c};
  tx.exec_params(
      "INSERT INTO user_credentials (user_uuid, password_hash) VALUES ($1::uuid, $2) "
      "ON CONFLICT (user_uuid) DO NOTHING",
      domain::user_uuid(username), api::hash_password(password));
  tx.commit();
  spdlog::info("created the first superuser '{}'", username);
  if (generated)
    std::cout << "beampipe: the first superuser is '" << username
              << "' with the generated password " << password << "\n          (shown once; kept in "
              << generated_password_file.string() << ", mode 0600)" << std::endl;
  return r.ok() ? r.position : 0;
}

void settle_user_read_models(store::database& db) {
  for (auto& eng : projections::standard_engines_by_group()) {
    if (eng->group_name() != "users") continue;
    auto c = db.connect(store::db_role::projections, "users");
    eng->catch_up(*c, 1000);
  }
}

void create_user(actors::runtime& rt, store::database& db, const user_account& u) {
  check_password(u.password);
  auto r = send_user_command(
      rt, u.username, "create",
      {{"username", u.username}, {"email", u.email}, {"is_superuser", u.superuser}}, "system:cli");
  if (!r.ok()) throw std::invalid_argument((r.field.empty() ? r.code : r.field) + ": " + r.message);
  // Created first, credentials second: the hash is only written for a user this call made,
  // never over someone else's (a crash in between leaves a user to set a password for).
  auto c = db.connect(store::db_role::maintenance, "admin");
  pqxx::work tx{*c};
  tx.exec_params("INSERT INTO user_credentials (user_uuid, password_hash) VALUES ($1::uuid, $2)",
                 domain::user_uuid(u.username), api::hash_password(u.password));
  tx.commit();
  settle_user_read_models(db);
}

void set_password(actors::runtime& rt, store::database& db, const std::string& username,
                  const std::string& password) {
  check_password(password);
  auto uuid = domain::user_uuid(username);
  auto c = db.connect(store::db_role::maintenance, "admin");
  {
    pqxx::work tx{*c};
    tx.exec_params(
        "INSERT INTO user_credentials (user_uuid, password_hash) VALUES ($1::uuid, $2) ON "
        "CONFLICT (user_uuid) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at "
        "= now()",
        uuid, api::hash_password(password));
    auto r = send_user_command(rt, username, "password_changed", {}, "system:cli");
    if (!r.ok())  // unknown user: the transaction is not committed
      throw std::invalid_argument("username: " + r.message);
    tx.commit();
  }
  // Sessions the read model knows of once caught up; one started this very moment may still be
  // on its way, and the password it was signed in with no longer works.
  settle_user_read_models(db);
  pqxx::read_transaction tx{*c};
  for (const auto& family : projections::users::live_sessions(tx, uuid)) {
    actors::command_request cr;
    cr.stream_id = domain::auth_session_stream_id(family);
    cr.cmd = {"revoke", {{"reason", "password_changed"}}, "system:cli"};
    rt.send_sync(std::move(cr));
  }
}

void disable_user(actors::runtime& rt, store::database& db, const std::string& username) {
  auto r = send_user_command(rt, username, "disable", {}, "system:cli");
  if (!r.ok()) throw std::invalid_argument("username: " + r.message);
  settle_user_read_models(db);
}

}  // namespace beampipe::app
