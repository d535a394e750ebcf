#include "cli/security.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace beampipe::cli {

namespace {

bool truthy(const std::optional<std::string>& v) {
  return v && (*v == "1" || *v == "true" || *v == "yes" || *v == "on");
}

std::string value(const env_lookup& env, const std::string& name) {
  auto v = env(name);
  return v ? *v : "";
}

}  // namespace

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::string configured_jwt_secret(const env_lookup& env) {
  if (auto v = value(env, "BEAMPIPE_JWT_SECRET"); !v.empty()) return v;
  auto file = value(env, "BEAMPIPE_JWT_SECRET_FILE");
  if (file.empty()) return "";
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line))
    throw std::runtime_error("BEAMPIPE_JWT_SECRET_FILE cannot be read");
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) throw std::runtime_error("BEAMPIPE_JWT_SECRET_FILE is empty");
  return line;
}

bool production_mode(const env_lookup& env) { return value(env, "BEAMPIPE_ENV") == "production"; }

std::vector<security_finding> security_findings(const env_lookup& env) {
  std::vector<security_finding> out;
  bool prod = production_mode(env);
  // A finding production refuses: fail there, warn elsewhere; a break-glass flag turns it
  // into a warning that still shows.
  auto gate = [&](std::string check, std::string message, const char* break_glass) {
    if (break_glass && truthy(env(break_glass))) {
      out.push_back({std::move(check), "warn", message + " (allowed by " + break_glass + ")"});
      return;
    }
    out.push_back({std::move(check), prod ? "fail" : "warn", std::move(message)});
  };
  auto ok = [&](std::string check, std::string message) {
    out.push_back({std::move(check), "ok", std::move(message)});
  };

  std::string secret;
  try {
    secret = configured_jwt_secret(env);
  } catch (const std::exception& e) {
    gate("jwt.secret", e.what(), nullptr);
  }
  if (secret == kFormerDevelopmentJwtSecret)
    gate("jwt.secret", "BEAMPIPE_JWT_SECRET is the public development secret of earlier versions",
         nullptr);
  else if (secret.empty() && !value(env, "BEAMPIPE_JWT_SECRET_FILE").empty())
    ;  // unreadable: reported above
  else if (secret.empty())
    gate("jwt.secret",
         "BEAMPIPE_JWT_SECRET (or BEAMPIPE_JWT_SECRET_FILE) is not set: tokens are signed with a "
         "random secret generated once and kept in the database; production wants one you "
         "manage",
         "BEAMPIPE_ALLOW_DEFAULT_JWT_SECRET");
  else if (secret.size() < 32)
    gate("jwt.secret", "BEAMPIPE_JWT_SECRET is shorter than 32 bytes", nullptr);
  else
    ok("jwt.secret", "set, " + std::to_string(secret.size()) + " bytes");

  auto strict = env("BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS");
  auto known_hosts = value(env, "SLURM_SSH_KNOWN_HOSTS_SOURCE");
  if (strict && !strict->empty() && !truthy(strict))
    gate("ssh.host_keys",
         "BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS is off: unknown Slurm host "
         "keys are accepted",
         "BEAMPIPE_ALLOW_INSECURE_SSH_HOST_KEYS");
  else if (known_hosts == "none")
    gate("ssh.host_keys", "SLURM_SSH_KNOWN_HOSTS_SOURCE is 'none': host keys are not checked",
         "BEAMPIPE_ALLOW_INSECURE_SSH_HOST_KEYS");
  else
    ok("ssh.host_keys", "unknown host keys are refused");

  if (!known_hosts.empty() && known_hosts != "none") {
    std::ifstream in(known_hosts);
    std::string line;
    size_t entries = 0, hashed = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      ++entries;
      if (line.rfind("|1|", 0) == 0) ++hashed;
    }
    if (!in.eof() && entries == 0)
      gate("ssh.known_hosts", "SLURM_SSH_KNOWN_HOSTS_SOURCE cannot be read", nullptr);
    else if (entries == 0)
      gate("ssh.known_hosts", "SLURM_SSH_KNOWN_HOSTS_SOURCE has no entries", nullptr);
    else if (hashed)
      gate("ssh.known_hosts",
           "SLURM_SSH_KNOWN_HOSTS_SOURCE has hashed entries, which cannot be "
           "matched per host and port",
           nullptr);
    else
      ok("ssh.known_hosts", std::to_string(entries) + " entries");
  }

  auto key = value(env, "SLURM_SSH_PRIVATE_KEY_FILE");
  if (!key.empty()) {
    struct stat st {};
    if (lstat(key.c_str(), &st) != 0)
      gate("ssh.private_key", "SLURM_SSH_PRIVATE_KEY_FILE does not exist", nullptr);
    else if (S_ISLNK(st.st_mode))
      gate("ssh.private_key", "SLURM_SSH_PRIVATE_KEY_FILE is a symbolic link", nullptr);
    else if ((st.st_mode & 0177) != 0)
      gate("ssh.private_key",
           "SLURM_SSH_PRIVATE_KEY_FILE is readable by others (mode must be "
           "0600 or 0400)",
           nullptr);
    else
      ok("ssh.private_key", "mode " + std::to_string((st.st_mode >> 6) & 7) + "00, not a link");
  }

  for (const char* inline_secret : {"CASDA_PASSWORD", "BEAMPIPE_ADMIN_PASSWORD"}) {
    if (value(env, inline_secret).empty()) continue;
    gate(std::string("secrets.") + inline_secret,
         std::string(inline_secret) + " holds a secret inline; use " + inline_secret + "_FILE",
         "BEAMPIPE_ALLOW_INLINE_SECRETS");
  }

  auto limit = value(env, "BEAMPIPE_RATE_LIMIT_REQUESTS");
  if (!limit.empty() && std::atol(limit.c_str()) <= 0)
    gate("rate_limit", "BEAMPIPE_RATE_LIMIT_REQUESTS is not positive: no rate limits", nullptr);
  else
    ok("rate_limit", "login and other sensitive routes are rate-limited");
  return out;
}

}  // namespace beampipe::cli
