#pragma once
// Security settings (issue #7): what `beampipe security check` reports and what production
// (BEAMPIPE_ENV=production) refuses to start with. A finding that fails in production is only
// a warning in development, so the same report tells an operator what going live would need.
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace beampipe::cli {

// The public constant earlier versions signed with when no secret was set: refused as a secret.
inline constexpr const char* kFormerDevelopmentJwtSecret = "beampipe-development-secret-change-me";

struct security_finding {
  std::string check;    // e.g. "jwt.secret"
  std::string status;   // ok | warn | fail
  std::string message;  // never a secret's value
};

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

bool production_mode(const env_lookup& env);
// Inspects the environment and the files it names (key modes, known_hosts contents).
std::vector<security_finding> security_findings(const env_lookup& env);
env_lookup process_env();
// BEAMPIPE_JWT_SECRET, else the first line of BEAMPIPE_JWT_SECRET_FILE, else empty (the
// database keeps a generated one, store/signing_secret.hpp). Throws when the file is unreadable.
std::string configured_jwt_secret(const env_lookup& env);

}  // namespace beampipe::cli
