#pragma once
// The first superuser (issue #7): when BEAMPIPE_ADMIN_USERNAME and BEAMPIPE_ADMIN_PASSWORD
// (or BEAMPIPE_ADMIN_PASSWORD_FILE) are set and no user exists yet, it is created at start;
// otherwise the log says how to create one. The password is hashed (Argon2id) into the
// credentials table and never logged or recorded in an event.
#include <string>

#include "actors/runtime.hpp"

namespace beampipe::cli {

void bootstrap_first_superuser(actors::runtime& rt, const std::string& conninfo);

}  // namespace beampipe::cli
