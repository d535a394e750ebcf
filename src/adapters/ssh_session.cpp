#include "adapters/ssh_session.hpp"

#include <libssh/libssh.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

#include "domain/slurm.hpp"
#include "util/ids.hpp"

namespace beampipe::adapters {

using kind = ssh_error::kind;
using steady = std::chrono::steady_clock;

namespace {

// Overwrites a secret before its memory is released.
void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

std::string read_passphrase(const std::string& path) {
  check_private_key_file(path);  // same rule: a secret readable by others is refused
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ssh_error(kind::connect, "cannot read passphrase file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

void ensure_libssh_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { ssh_init(); });
}

}  // namespace

void check_private_key_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw ssh_error(kind::connect, "cannot use key file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw ssh_error(kind::connect, "key file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    throw ssh_error(kind::connect, "key file " + path +
                                       " is accessible by group or others (mode must be 0600 or "
                                       "stricter)");
}

struct ssh_session::impl {
  ::ssh_session session = nullptr;
  bool usable = false;
  ~impl() {
    if (session) {
      if (ssh_is_connected(session)) ssh_disconnect(session);
      ssh_free(session);
    }
  }
};

std::string ssh_session::describe() const {
  return options_.user + "@" + options_.host + ":" + std::to_string(options_.port);
}

bool ssh_session::usable() const noexcept {
  return impl_ && impl_->usable && impl_->session && ssh_is_connected(impl_->session);
}

ssh_session::ssh_session(ssh_options options)
    : options_(std::move(options)), impl_(std::make_unique<impl>()) {
  ensure_libssh_initialised();
  const std::string where = options_.host + " port " + std::to_string(options_.port);
  check_private_key_file(options_.private_key_file);
  if (options_.strict_host_key) {
    struct stat st {};
    if (options_.known_hosts_file.empty() || ::stat(options_.known_hosts_file.c_str(), &st) != 0)
      throw ssh_error(kind::host_key, "known_hosts file '" + options_.known_hosts_file +
                                          "' is missing: cannot verify host key of " + where);
  }

  auto& s = impl_->session;
  s = ssh_new();
  if (!s) throw ssh_error(kind::connect, "libssh: cannot allocate a session");
  const int port = options_.port;
  const long secs = static_cast<long>(options_.connect_timeout.count() / 1000);
  const long usecs = static_cast<long>((options_.connect_timeout.count() % 1000) * 1000);
  const int no = 0;
  const int log = SSH_LOG_NOLOG;
  const std::string known =
      options_.known_hosts_file.empty() ? "/dev/null" : options_.known_hosts_file;
  if (ssh_options_set(s, SSH_OPTIONS_HOST, options_.host.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_USER, options_.user.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &secs) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usecs) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &log) != SSH_OK ||
      // Only the files given here count: no ~/.ssh/config, no global known_hosts.
      ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, known.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != SSH_OK)
    throw ssh_error(kind::connect,
                    "libssh rejected the options for " + where + ": " + ssh_get_error(s));

  if (ssh_connect(s) != SSH_OK) {
    std::string msg = ssh_get_error(s);
    const bool timed_out =
        msg.find("imeout") != std::string::npos || msg.find("imed out") != std::string::npos;
    throw ssh_error(timed_out ? kind::timeout : kind::connect,
                    "cannot connect to " + where + ": " + msg);
  }

  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      break;
    case SSH_KNOWN_HOSTS_CHANGED:
      throw ssh_error(kind::host_key, "host key of " + where + " has CHANGED from the one in " +
                                          options_.known_hosts_file + ": refusing to connect");
    case SSH_KNOWN_HOSTS_OTHER:
      throw ssh_error(kind::host_key, "host key of " + where + " is of a different type than the " +
                                          "one in " + options_.known_hosts_file +
                                          ": refusing to connect");
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      if (options_.strict_host_key)
        throw ssh_error(kind::host_key, "host key of " + where + " is not in " +
                                            options_.known_hosts_file +
                                            " (strict host key checking)");
      break;  // accepted for this connection only; the file is not written
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      throw ssh_error(kind::host_key,
                      "cannot verify host key of " + where + ": " + ssh_get_error(s));
  }

  std::string passphrase;
  if (options_.passphrase_file) passphrase = read_passphrase(*options_.passphrase_file);
  ssh_key key = nullptr;
  int rc = ssh_pki_import_privkey_file(options_.private_key_file.c_str(),
                                       options_.passphrase_file ? passphrase.c_str() : nullptr,
                                       nullptr, nullptr, &key);
  wipe(passphrase);
  if (rc != SSH_OK || !key)
    throw ssh_error(kind::auth, "cannot load private key " + options_.private_key_file +
                                    " (wrong passphrase or unsupported format)");
  rc = ssh_userauth_publickey(s, nullptr, key);
  ssh_key_free(key);
  if (rc != SSH_AUTH_SUCCESS)
    throw ssh_error(kind::auth, "public key authentication as " + options_.user + " to " + where +
                                    " failed: " + ssh_get_error(s));
  impl_->usable = true;
}

ssh_session::~ssh_session() = default;

ssh_exec_result ssh_session::exec(std::string_view command, std::string_view stdin_data,
                                  std::optional<std::chrono::milliseconds> timeout) {
  if (!usable()) throw ssh_error(kind::channel, "ssh session to " + describe() + " is closed");
  auto* s = impl_->session;
  const auto deadline = steady::now() + timeout.value_or(options_.command_timeout);
  bool sent = false;
  auto fail = [&](kind k, const std::string& what) -> ssh_error {
    impl_->usable = false;  // the connection state is unknown: reconnect next time
    return ssh_error(k, what + " (" + describe() + ")", sent);
  };

  std::unique_ptr<ssh_channel_struct, void (*)(ssh_channel)> channel(ssh_channel_new(s),
                                                                     [](ssh_channel c) {
                                                                       if (!c) return;
                                                                       ssh_channel_close(c);
                                                                       ssh_channel_free(c);
                                                                     });
  if (!channel)
    throw fail(kind::channel, std::string("cannot create channel: ") + ssh_get_error(s));
  auto* ch = channel.get();
  if (ssh_channel_open_session(ch) != SSH_OK)
    throw fail(kind::channel, std::string("cannot open channel: ") + ssh_get_error(s));
  const std::string cmd(command);
  sent = true;  // from here on the server may have started the command
  if (ssh_channel_request_exec(ch, cmd.c_str()) != SSH_OK)
    throw fail(kind::channel, std::string("exec request failed: ") + ssh_get_error(s));

  std::size_t written = 0;
  while (written < stdin_data.size()) {
    auto chunk = static_cast<uint32_t>(std::min<std::size_t>(stdin_data.size() - written, 32768));
    int n = ssh_channel_write(ch, stdin_data.data() + written, chunk);
    if (n == SSH_ERROR)
      throw fail(kind::channel, std::string("writing stdin failed: ") + ssh_get_error(s));
    written += static_cast<std::size_t>(n);
    if (steady::now() > deadline) throw fail(kind::timeout, "command timed out writing stdin");
  }
  if (ssh_channel_send_eof(ch) != SSH_OK)
    throw fail(kind::channel, std::string("sending EOF failed: ") + ssh_get_error(s));

  ssh_exec_result result;
  char buf[16384];
  auto drain_stderr = [&] {
    int e;
    while ((e = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1)) > 0)
      result.stderr_text.append(buf, static_cast<std::size_t>(e));
    if (e == SSH_ERROR)
      throw fail(kind::channel, std::string("reading stderr failed: ") + ssh_get_error(s));
  };
  while (true) {
    if (steady::now() > deadline) throw fail(kind::timeout, "command timed out");
    int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 200);
    if (n == SSH_ERROR)
      throw fail(kind::channel, std::string("reading stdout failed: ") + ssh_get_error(s));
    if (n > 0) result.stdout_text.append(buf, static_cast<std::size_t>(n));
    drain_stderr();
    if (n == 0 && (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))) {
      while ((n = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 0)) > 0)
        result.stdout_text.append(buf, static_cast<std::size_t>(n));
      drain_stderr();
      break;
    }
  }
  // Waits (bounded by the session timeout) for exit-status or the channel close.
  int status = ssh_channel_get_exit_status(ch);
  if (status >= 0) result.exit_status = status;
  return result;
}

std::string atomic_upload_command(const std::string& remote_path) {
  using domain::shell_quote;
  auto suffix = util::uuid_v7();
  suffix.erase(std::remove(suffix.begin(), suffix.end(), '-'), suffix.end());
  const auto tmp = shell_quote(remote_path + ".tmp-" + suffix);
  // rename(2) within one directory is atomic.
  return "umask 077 && cat > " + tmp + " && mv -- " + tmp + " " + shell_quote(remote_path) +
         " || { rm -f -- " + tmp + "; exit 1; }";
}

void ssh_session::upload(const std::string& remote_path, std::string_view content) {
  auto r = exec(atomic_upload_command(remote_path), content);
  if (!r.exit_status)
    throw ssh_error(kind::no_exit_status, "upload of " + remote_path + " to " + describe() +
                                              " ended without an exit status");
  if (*r.exit_status != 0)
    throw ssh_error(kind::remote_failure, "upload of " + remote_path + " to " + describe() +
                                              " failed (exit " + std::to_string(*r.exit_status) +
                                              "): " + r.stderr_text.substr(0, 500));
}

}  // namespace beampipe::adapters
