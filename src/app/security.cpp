#include "app/security.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace beampipe::app {

std::string configured_jwt_secret(const settings& s) {
  if (!s.jwt_secret.empty()) return s.jwt_secret;
  const auto& file = s.jwt_secret_file;
  if (file.empty()) return "";
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line))
    throw std::runtime_error("BEAMPIPE_JWT_SECRET_FILE cannot be read");
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) throw std::runtime_error("BEAMPIPE_JWT_SECRET_FILE is empty");
  return line;
}

std::vector<security_finding> security_findings(const settings& s) {
  std::vector<security_finding> out;
  bool prod = s.production();
  // A finding production refuses: fail there, warn elsewhere; a break-glass flag turns it
  // into a warning that still shows.
  struct glass {
    bool set;
    const char* name;
  };
  const glass none{false, nullptr};
  const glass default_jwt{s.allow_default_jwt_secret, "BEAMPIPE_ALLOW_DEFAULT_JWT_SECRET"};
  const glass insecure_ssh{s.allow_insecure_ssh_host_keys, "BEAMPIPE_ALLOW_INSECURE_SSH_HOST_KEYS"};
  const glass inline_secrets{s.allow_inline_secrets, "BEAMPIPE_ALLOW_INLINE_SECRETS"};
  auto gate = [&](std::string check, std::string message, glass break_glass) {
    if (break_glass.set) {
      out.push_back({std::move(check), "warn", message + " (allowed by " + break_glass.name + ")"});
      return;
    }
    out.push_back({std::move(check), prod ? "fail" : "warn", std::move(message)});
  };
  auto ok = [&](std::string check, std::string message) {
    out.push_back({std::move(check), "ok", std::move(message)});
  };

  std::string secret;
  try {
    secret = configured_jwt_secret(s);
  } catch (const std::exception& e) {
    gate("jwt.secret", e.what(), none);
  }
  if (secret == kFormerDevelopmentJwtSecret)
    gate("jwt.secret", "BEAMPIPE_JWT_SECRET is the public development secret of earlier versions",
         none);
  else if (secret.empty() && !s.jwt_secret_file.empty())
    ;  // unreadable: reported above
  else if (secret.empty())
    gate("jwt.secret",
         "BEAMPIPE_JWT_SECRET (or BEAMPIPE_JWT_SECRET_FILE) is not set: tokens are signed with a "
         "random secret generated once and kept in the database; production wants one you "
         "manage",
         default_jwt);
  else if (secret.size() < 32)
    gate("jwt.secret", "BEAMPIPE_JWT_SECRET is shorter than 32 bytes", none);
  else
    ok("jwt.secret", "set, " + std::to_string(secret.size()) + " bytes");

  const auto& known_hosts = s.slurm_ssh_known_hosts_source;
  if (!s.slurm_ssh_strict_known_hosts)
    gate("ssh.host_keys",
         "BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS is off: unknown Slurm host "
         "keys are accepted",
         insecure_ssh);
  else if (known_hosts == "none")
    gate("ssh.host_keys", "SLURM_SSH_KNOWN_HOSTS_SOURCE is 'none': host keys are not checked",
         insecure_ssh);
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
      gate("ssh.known_hosts", "SLURM_SSH_KNOWN_HOSTS_SOURCE cannot be read", none);
    else if (entries == 0)
      gate("ssh.known_hosts", "SLURM_SSH_KNOWN_HOSTS_SOURCE has no entries", none);
    else if (hashed)
      gate("ssh.known_hosts",
           "SLURM_SSH_KNOWN_HOSTS_SOURCE has hashed entries, which cannot be "
           "matched per host and port",
           none);
    else
      ok("ssh.known_hosts", std::to_string(entries) + " entries");
  }

  const auto& key = s.slurm_ssh_private_key_file;
  if (!key.empty()) {
    struct stat st {};
    if (lstat(key.c_str(), &st) != 0)
      gate("ssh.private_key", "SLURM_SSH_PRIVATE_KEY_FILE does not exist", none);
    else if (S_ISLNK(st.st_mode))
      gate("ssh.private_key", "SLURM_SSH_PRIVATE_KEY_FILE is a symbolic link", none);
    else if ((st.st_mode & 0177) != 0)
      gate("ssh.private_key",
           "SLURM_SSH_PRIVATE_KEY_FILE is readable by others (mode must be "
           "0600 or 0400)",
           none);
    else
      ok("ssh.private_key", "mode " + std::to_string((st.st_mode >> 6) & 7) + "00, not a link");
  }

  for (const auto& [inline_secret, held] :
       {std::pair{"CASDA_PASSWORD", &s.casda_password},
        std::pair{"BEAMPIPE_ADMIN_PASSWORD", &s.admin_password}}) {
    if (held->empty()) continue;
    gate(std::string("secrets.") + inline_secret,
         std::string(inline_secret) + " holds a secret inline; use " + inline_secret + "_FILE",
         inline_secrets);
  }

  if (s.rate_limit_requests <= 0)
    gate("rate_limit", "BEAMPIPE_RATE_LIMIT_REQUESTS is not positive: no rate limits", none);
  else
    ok("rate_limit", "login and other sensitive routes are rate-limited");

  // The cluster port takes commands from any process that reaches it (issue #23): production
  // requires the members to authenticate each other with TLS.
  if (!s.cluster_bind_addr.empty() && s.cluster_tls_cert.empty())
    gate("cluster.transport",
         "BEAMPIPE_CLUSTER_BIND_ADDR " + s.cluster_bind_addr +
             " accepts commands without TLS: set BEAMPIPE_CLUSTER_TLS_CERT, _KEY and _CA",
         none);
  else if (!s.cluster_bind_addr.empty())
    ok("cluster.transport",
       "members authenticate each other with TLS (CA " + s.cluster_tls_ca + ")");
  else
    ok("cluster.transport", "not clustered: no cluster port is open");
  return out;
}

}  // namespace beampipe::app
