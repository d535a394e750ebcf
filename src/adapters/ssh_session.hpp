// One authenticated SSH connection (libssh) to a Slurm login node (protocols §6.1).
//
// Public-key authentication only, from a private key file that nobody but the owner may
// read. The host key must be in the given known_hosts file (strict by default); a changed
// key is refused even when strict checking is off. Each command is one exec channel, so
// the remote login shell parses it: callers quote. Blocking and not thread-safe: callers
// serialise use of one session (slurm_client does) and run it off actor threads.
// Messages never carry key material or passphrases.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace beampipe::adapters {

class ssh_error : public std::runtime_error {
 public:
  enum class kind {
    connect,         // TCP/SSH handshake failed, key file unusable
    host_key,        // host key unknown, changed, or known_hosts missing
    auth,            // public key refused
    channel,         // channel open/exec/read/write failed (the connection may be gone)
    timeout,         // connect or command deadline passed
    no_exit_status,  // the channel closed without an exit status
    remote_failure,  // the remote command ran and failed (helpers that check the status)
  };
  ssh_error(kind k, const std::string& message, bool request_sent = false)
      : std::runtime_error(message), kind_(k), request_sent_(request_sent) {}
  kind code() const noexcept { return kind_; }
  // The exec request had been sent when this failed: the command may have run.
  bool request_sent() const noexcept { return request_sent_; }

 private:
  kind kind_;
  bool request_sent_;
};

struct ssh_options {
  std::string host;
  int port = 22;
  std::string user;
  std::string private_key_file;
  std::optional<std::string> passphrase_file;  // first line is the passphrase
  std::string known_hosts_file;
  // false accepts an unknown host key (never a changed one); for development only.
  bool strict_host_key = true;
  std::chrono::milliseconds connect_timeout{15'000};
  std::chrono::milliseconds command_timeout{120'000};
};

struct ssh_exec_result {
  std::optional<int> exit_status;  // nullopt: the channel closed without reporting one
  std::string stdout_text;
  std::string stderr_text;
};

// `umask 077 && cat > <tmp> && mv -- <tmp> <path>` (tmp removed on failure), content on
// stdin: the file appears under its final name only when complete.
std::string atomic_upload_command(const std::string& remote_path);

// Refuses a key file that is not a regular file or that group/others may access.
// Throws ssh_error{connect}.
void check_private_key_file(const std::string& path);

class ssh_session {
 public:
  // Connects, verifies the host key and authenticates; throws ssh_error.
  explicit ssh_session(ssh_options options);
  ~ssh_session();
  ssh_session(const ssh_session&) = delete;
  ssh_session& operator=(const ssh_session&) = delete;

  const ssh_options& options() const noexcept { return options_; }
  // false after a transport error: the pool reconnects.
  bool usable() const noexcept;

  // Runs one command, sends stdin_data then EOF, and collects both streams.
  // Throws ssh_error{channel|timeout}; a missing exit status is *not* thrown here
  // (exit_status is nullopt) so the caller decides what it means.
  ssh_exec_result exec(std::string_view command, std::string_view stdin_data = {},
                       std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // Writes content to remote_path atomically: `umask 077 && cat > tmp && mv -- tmp path`
  // (tmp removed on failure). Throws ssh_error{remote_failure|no_exit_status|...}.
  void upload(const std::string& remote_path, std::string_view content);

  // "user@host:port" for messages.
  std::string describe() const;

 private:
  struct impl;
  ssh_options options_;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::adapters
