#pragma once
// The real execution backends (see execution_backend.hpp).
#include <optional>
#include <string>

#include "adapters/execution_backend.hpp"

namespace beampipe::adapters {

// Where the SSH key material for Slurm comes from (paths only, never contents).
struct slurm_credentials {
  std::string credentials_dir;                 // BEAMPIPE_SSH_CREDENTIALS_DIR:
                                               // <dir>/<slot>/{private_key,known_hosts,passphrase}
  std::string private_key_file;                // SLURM_SSH_PRIVATE_KEY_FILE
  std::string passphrase_file;                 // SLURM_SSH_PRIVATE_KEY_PASSPHRASE_FILE
  std::string known_hosts_file;                // SLURM_SSH_KNOWN_HOSTS_SOURCE
  bool strict_host_key = true;                 // BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS
  std::optional<std::string> env_remote_user;  // SLURM_REMOTE_USER
  std::optional<std::string> env_user;         // USER
  std::string askapsoft_sif;                   // BEAMPIPE_ASKAPSOFT_SIF
};

std::shared_ptr<execution_backend> make_rest_backend();
std::shared_ptr<execution_backend> make_slurm_backend(slurm_credentials creds);

}  // namespace beampipe::adapters
