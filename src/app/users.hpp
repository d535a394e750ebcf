#pragma once
// The first superuser (issue #7): when BEAMPIPE_ADMIN_USERNAME and BEAMPIPE_ADMIN_PASSWORD
// (or BEAMPIPE_ADMIN_PASSWORD_FILE) are set and no user exists yet, it is created at start;
// otherwise the log says how to create one. The password is hashed (Argon2id) into the
// credentials table and never logged or recorded in an event.
#include <filesystem>
#include <string>

#include "actors/runtime.hpp"
#include "app/settings.hpp"
#include "store/database.hpp"

namespace beampipe::app {

// Returns the global position of the UserCreated event it appended, or 0. With
// `generated_password_file` (`start --demo`) and no BEAMPIPE_ADMIN_* set, the superuser is
// BEAMPIPE_ADMIN_USERNAME or `admin` with a generated password, kept in that file (0600) and
// printed once on stdout, never logged.
int64_t bootstrap_first_superuser(actors::runtime& rt, store::database& db, const settings& s,
                                  const std::filesystem::path& generated_password_file = {});

struct user_account {
  std::string username;
  std::string password;  // plain, hashed here; never logged
  std::string email;
  bool superuser = false;
};

// The users group's read models (users, auth_sessions) brought up to the store's head from
// this process, as a running server's projections would (their advisory lock keeps the two
// from applying an event twice): when an admin command returns, the next sign-in sees it,
// with or without a server running.
void settle_user_read_models(store::database& db);

// `beampipe admin create-user`: the user's UserCreated event, then its credentials.
// Throws std::invalid_argument with the refusal (taken name, bad field).
void create_user(actors::runtime& rt, store::database& db, const user_account& u);
// `beampipe admin set-password`: new credentials, UserPasswordChanged, and every live sign-in
// session of the user revoked (tokens issued under the old password stop working).
void set_password(actors::runtime& rt, store::database& db, const std::string& username,
                  const std::string& password);
// `beampipe admin disable-user`: UserDisabled; the auth check refuses the user's tokens.
void disable_user(actors::runtime& rt, store::database& db, const std::string& username);

}  // namespace beampipe::app
