#pragma once
// The Slurm SSH credential slots under BEAMPIPE_SSH_CREDENTIALS_DIR (<dir>/<slot>/...): which
// files each holds, never what they hold. A profile names its slot in deployment.ssh_credential.
#include <optional>
#include <string>
#include <vector>

namespace beampipe::adapters {

struct credential_slot {
  std::string name;
  bool private_key = false;  // private_key
  bool public_key = false;   // private_key.pub
  bool passphrase = false;   // passphrase
  bool known_hosts = false;  // known_hosts
  // The private key and passphrase (where present) are regular files no one but their owner
  // may read or write (libssh and OpenSSH refuse keys that others can read).
  bool safe_permissions = true;
};

// A slot name: 1..64 of [A-Za-z0-9._-], not starting with a dot (no path can be formed).
bool valid_slot_name(const std::string& name);
// Every slot (a directory with a valid name), by name; none when `dir` is empty or absent.
std::vector<credential_slot> list_credential_slots(const std::string& dir);
// One slot; none when it does not exist (or the name is not a slot name).
std::optional<credential_slot> find_credential_slot(const std::string& dir,
                                                    const std::string& name);

}  // namespace beampipe::adapters
