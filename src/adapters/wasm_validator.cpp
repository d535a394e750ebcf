#include "adapters/wasm_validator.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace beampipe::adapters {

namespace {
// A temporary file removed when it goes out of scope.
struct temp_file {
  std::string path;
  int fd = -1;
  temp_file() {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir && *dir ? dir : "/tmp") + "/beampipe-wasm-XXXXXX";
    fd = ::mkstemp(path.data());
    if (fd < 0) throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
  }
  ~temp_file() {
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
  }
};
}  // namespace

std::optional<std::string> wasm_module_error(std::string_view bytes, const std::string& validator) {
  static constexpr char kMagic[] = {'\0', 'a', 's', 'm', 1, 0, 0, 0};
  if (bytes.size() < sizeof kMagic || bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0)
    return "not a WebAssembly binary module (no \\0asm version 1 header)";
  temp_file f;
  for (size_t off = 0; off < bytes.size();) {
    auto n = ::write(f.fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  std::vector<char*> argv{const_cast<char*>(validator.c_str()), f.path.data(), nullptr};
  pid_t pid = -1;
  // posix_spawn, not fork: the server is multithreaded.
  int rc = ::posix_spawnp(&pid, validator.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error(validator +
                             " cannot run (install the Debian package wabt): " + std::strerror(rc));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    auto n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() < 64 * 1024) text.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  // "/tmp/beampipe-wasm-XXXX:0000010: error: ..." → "0000010: error: ..."
  if (auto at = text.find(f.path); at != std::string::npos) text.erase(at, f.path.size() + 1);
  auto nl = text.find('\n');
  text = text.substr(0, nl);
  return text.empty() ? "the WebAssembly module does not validate" : text;
}

}  // namespace beampipe::adapters
