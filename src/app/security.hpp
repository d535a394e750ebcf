#pragma once
// Security settings (issue #7): what `beampipe security check` reports and what production
// (BEAMPIPE_ENV=production) refuses to start with. A finding that fails in production is only
// a warning in development, so the same report tells an operator what going live would need.
#include <string>
#include <vector>

#include "app/settings.hpp"

namespace beampipe::app {

// The public constant earlier versions signed with when no secret was set: refused as a secret.
inline constexpr const char* kFormerDevelopmentJwtSecret = "beampipe-development-secret-change-me";

struct security_finding {
  std::string check;    // e.g. "jwt.secret"
  std::string status;   // ok | warn | fail
  std::string message;  // never a secret's value
};

// Inspects the settings and the files they name (key modes, known_hosts contents).
std::vector<security_finding> security_findings(const settings& s);
// BEAMPIPE_JWT_SECRET, else the first line of BEAMPIPE_JWT_SECRET_FILE, else empty (the
// database keeps a generated one, store/signing_secret.hpp). Throws when the file is unreadable.
std::string configured_jwt_secret(const settings& s);

}  // namespace beampipe::app
