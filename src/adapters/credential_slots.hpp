#pragma once
// The Slurm SSH credential slots under BEAMPIPE_SSH_CREDENTIALS_DIR (<dir>/<slot>/...): which
// files each holds, never what they hold. A profile names its slot in deployment.ssh_credential.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/ssh_session.hpp"

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

// Writing slots (beampipe slurm credentials ...). Secrets are created owner-only (0600) in an
// owner-only slot (0700) and never printed; a slot that exists is replaced only with `force`.
// Each throws std::invalid_argument naming what is wrong.

// A new ed25519 key pair, with a copy of `known_hosts` when given; answers the public key line
// (for the login node's authorized_keys).
std::string init_credential_slot(const std::string& dir, const std::string& name, bool force,
                                 const std::optional<std::string>& known_hosts = std::nullopt);

struct slot_files {
  std::string private_key;                     // required
  std::optional<std::string> public_key;       // else derived from the private key
  std::optional<std::string> known_hosts;      // else none (a connection then refuses the host)
  std::optional<std::string> passphrase_file;  // the private key's passphrase, if it has one
};
// Copies the files in after checking the key opens (with the passphrase, when given).
void import_credential_slot(const std::string& dir, const std::string& name,
                            const slot_files& files, bool force);

// What keeps a slot from working: files missing, permissions others could use, a key that
// does not open, a public key that is not the private key's. Empty: the slot is usable.
std::vector<std::string> check_credential_slot(const std::string& dir, const std::string& name);

// Deletes the slot and its files; false when there was none.
bool remove_credential_slot(const std::string& dir, const std::string& name);

// copy-id: the slot's public key appended to ~/.ssh/authorized_keys on the login node (once:
// a key already there is left alone), signing in with `via` (an identity that already signs in
// there; its host key checked against the slot's known_hosts, which `via.known_hosts_file` is
// set to). Then a second connection with the slot's own key proves it signs in. The slot must
// pass check_credential_slot first. Throws std::invalid_argument or ssh_error.
struct copied_key {
  bool added = false;       // false: the key was there already
  std::string destination;  // user@host:port
};
copied_key copy_slot_public_key(const std::string& dir, const std::string& name, ssh_options via);

// sync: the slots (all when `names` is empty) mirrored from `from` into `to`, file by file:
// a file whose bytes or mode differ is replaced whole (written beside, renamed over), one the
// source slot lacks is removed. Secrets stay owner-only. Every source slot must pass
// check_credential_slot (a broken slot is not spread). With `dry_run` nothing is written.
struct slot_file_change {
  std::string slot, file;
  std::string change;  // added | updated | removed | unchanged
};
std::vector<slot_file_change> sync_credential_slots(const std::string& from, const std::string& to,
                                                    const std::vector<std::string>& names,
                                                    bool dry_run);

}  // namespace beampipe::adapters
