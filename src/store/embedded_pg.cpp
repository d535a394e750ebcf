#include "store/embedded_pg.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <locale.h>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace beampipe::store {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* server_user_name = "beampipe";
constexpr const char* server_user_home = "/var/lib/beampipe";
constexpr const char* server_role = "beampipe";
constexpr int wait_seconds = 60;                  // pg_ctl -t and readiness waits
constexpr auto process_timeout = 120s;            // hard limit for any child program
constexpr std::size_t max_captured_output = 4096;  // bytes of a program's output kept for errors
constexpr std::size_t max_socket_path = 107;      // sizeof(sockaddr_un::sun_path) - 1

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error("embedded PostgreSQL: " + msg); }

std::string errno_text(int err) { return std::system_category().message(err); }

// ---------------------------------------------------------------------------------------------
// The OS user PostgreSQL runs as.

struct os_user {
  bool drop = false;  // true when we are root and must switch to this user in children
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home = "/";
};

std::optional<os_user> lookup_user(const std::string& name) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* result = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result)) == ERANGE) buf.resize(buf.size() * 2);
  if (rc != 0 || result == nullptr) return std::nullopt;
  os_user u;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  u.name = pw.pw_name;
  if (pw.pw_dir != nullptr && *pw.pw_dir != '\0') u.home = pw.pw_dir;
  return u;
}

os_user current_user() {
  os_user u;
  u.uid = ::geteuid();
  u.gid = ::getegid();
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* result = nullptr;
  if (::getpwuid_r(u.uid, &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
    u.name = pw.pw_name;
    if (pw.pw_dir != nullptr && *pw.pw_dir != '\0') u.home = pw.pw_dir;
  } else {
    u.name = std::to_string(u.uid);
  }
  return u;
}

// ---------------------------------------------------------------------------------------------
// Running programs: fork + execve, argv passed verbatim, no shell.

struct run_result {
  int exit_code = -1;  // -1: killed by a signal or timed out
  bool timed_out = false;
  std::string output;  // stdout and stderr interleaved, first max_captured_output bytes
};

std::vector<std::string> child_environment(const os_user& user) {
  std::vector<std::string> env{
      "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
      "LC_ALL=C",  // English messages we can match ("already exists"); initdb gets --locale
      "LANG=C",
      "HOME=" + user.home,
      "USER=" + user.name,
      "LOGNAME=" + user.name,
  };
  if (const char* tz = std::getenv("TZ"); tz != nullptr) env.push_back(std::string("TZ=") + tz);
  return env;
}

// Child side of fork(): only async-signal-safe calls from here on.
[[noreturn]] void child_die(const char* what) {
  int err = errno;
  char num[16];
  int n = 0;
  char tmp[16];
  do {
    tmp[n++] = static_cast<char>('0' + err % 10);
    err /= 10;
  } while (err > 0 && n < 15);
  for (int i = 0; i < n; ++i) num[i] = tmp[n - 1 - i];
  (void)!::write(2, "embedded_pg: child: ", 20);
  (void)!::write(2, what, std::strlen(what));
  (void)!::write(2, " failed, errno ", 15);
  (void)!::write(2, num, static_cast<std::size_t>(n));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, int out_fd, int null_fd,
                             const os_user* as_user, int max_fd) {
  // Own session: terminal signals (Ctrl-C) go to beampipe, which stops the server cleanly.
  ::setsid();
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIG_IGN survives execve

  if (::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0) child_die("dup2");
  // Nothing of beampipe (listening sockets, database connections, pipes) leaks into PostgreSQL.
  if (::close_range(3, ~0U, 0) != 0)
    for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
  if (::chdir("/") != 0) child_die("chdir /");
  if (as_user != nullptr && as_user->drop) {
    gid_t gid = as_user->gid;
    if (::setgroups(1, &gid) != 0) child_die("setgroups");
    if (::setgid(as_user->gid) != 0) child_die("setgid");
    if (::setuid(as_user->uid) != 0) child_die("setuid");
  }
  ::execve(path, argv, envp);
  child_die("execve");
}

run_result run_program(const std::vector<std::string>& args, const os_user& as_user,
                       std::chrono::steady_clock::duration timeout = process_timeout) {
  if (args.empty()) fail("internal error: empty command");
  std::vector<std::string> env = child_environment(as_user);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  long open_max = ::sysconf(_SC_OPEN_MAX);
  int max_fd = open_max > 0 && open_max < 65536 ? static_cast<int>(open_max) : 65536;

  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) fail("cannot open /dev/null: " + errno_text(errno));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(null_fd);
    fail("pipe: " + errno_text(err));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(null_fd);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    fail("fork: " + errno_text(err));
  }
  if (pid == 0) exec_child(args[0].c_str(), argv.data(), envp.data(), pipe_fds[1], null_fd, &as_user, max_fd);

  ::close(null_fd);
  ::close(pipe_fds[1]);
  run_result result;
  const auto deadline = clock_type::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
  };
  bool eof = false;
  while (!eof) {
    pollfd p{pipe_fds[0], POLLIN, 0};
    int ms = remaining_ms();
    if (ms == 0) {
      result.timed_out = true;
      break;
    }
    int n = ::poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (n == 0) continue;  // the deadline check above ends the loop
    char buf[4096];
    ssize_t got = ::read(pipe_fds[0], buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) {
      eof = true;
      break;
    }
    if (result.output.size() < max_captured_output)
      result.output.append(buf, std::min(static_cast<std::size_t>(got), max_captured_output - result.output.size()));
  }
  ::close(pipe_fds[0]);

  auto kill_child = [pid] {
    ::kill(-pid, SIGKILL);  // the child leads its own process group (setsid)
    ::kill(pid, SIGKILL);
  };
  if (result.timed_out) kill_child();
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {  // ECHILD: someone else reaped it (a SIGCHLD handler); exit status unknown
      status = -1;
      break;
    }
    // Output closed but the program still runs.
    if (remaining_ms() == 0) {
      result.timed_out = true;
      kill_child();
      continue;  // blocking waitpid from now on
    }
    std::this_thread::sleep_for(10ms);
  }
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (result.output.size() >= max_captured_output) result.output += "\n[... output truncated]";
  return result;
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string describe(const std::vector<std::string>& args, const run_result& r) {
  std::string cmd = fs::path(args.at(0)).filename().string();
  if (args.size() > 1) cmd += " " + args[1];
  std::string what = r.timed_out ? "timed out after " + std::to_string(process_timeout.count()) + "s"
                     : r.exit_code >= 0 ? "exited with code " + std::to_string(r.exit_code)
                                        : "was killed";
  std::string out = trim(r.output);
  return cmd + " " + what + (out.empty() ? std::string() : ": " + out);
}

// Would `user` be allowed `mode` (R_OK|W_OK|X_OK) on `path`? Forks and checks with the user's
// credentials, which covers every parent directory on the way.
bool user_can_access(const os_user& user, const fs::path& path, int mode) {
  if (!user.drop) return ::access(path.c_str(), mode) == 0;
  const std::string p = path.string();
  pid_t pid = ::fork();
  if (pid < 0) fail("fork: " + errno_text(errno));
  if (pid == 0) {
    gid_t gid = user.gid;
    if (::setgroups(1, &gid) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) ::_exit(2);
    ::_exit(::access(p.c_str(), mode) == 0 ? 0 : 1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// ---------------------------------------------------------------------------------------------
// Files and paths.

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail_of_file(const fs::path& p, std::size_t lines = 15, std::size_t max_bytes = 3000) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return {};
  std::string s = read_file(p);
  if (s.size() > max_bytes * 4) s.erase(0, s.size() - max_bytes * 4);
  std::size_t pos = s.size();
  if (pos > 0 && s[pos - 1] == '\n') --pos;
  for (std::size_t i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) pos = s.rfind('\n', pos - 1);
  std::string t = pos == std::string::npos ? s : s.substr(pos + 1);
  if (t.size() > max_bytes) t.erase(0, t.size() - max_bytes);
  return trim(t);
}

void write_file(const fs::path& p, const std::string& content, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) fail("cannot write " + p.string() + ": " + errno_text(errno));
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      fail("cannot write " + p.string() + ": " + errno_text(err));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);
  ::close(fd);
}

void chown_to(const fs::path& p, const os_user& user) {
  if (!user.drop) return;
  if (::lchown(p.c_str(), user.uid, user.gid) != 0)
    fail("cannot chown " + p.string() + " to " + user.name + ": " + errno_text(errno));
}

// mkdir -p for `dir` itself with `mode`, owned by `user`.
void make_owned_dir(const fs::path& dir, const os_user& user, mode_t mode) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create " + dir.string() + ": " + ec.message());
  if (!fs::is_directory(dir, ec)) fail(dir.string() + " is not a directory");
  chown_to(dir, user);
  if (::chmod(dir.c_str(), mode) != 0) fail("cannot chmod " + dir.string() + ": " + errno_text(errno));
}

// pg_ctl puts -D and -l into a /bin/sh command line inside plain double quotes.
void check_shell_safe(const fs::path& p) {
  const std::string s = p.string();
  if (s.find_first_of("\"$`\\\n\r") != std::string::npos)
    fail("path contains a character pg_ctl cannot quote safely (\" $ ` \\ or newline): " + s);
}

std::string hash_hex(const std::string& s) {  // FNV-1a 64: stable across builds and platforms
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string conf_quote(const std::string& s) {  // postgresql.conf string literal
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out + "'";
}

std::string sql_literal(const std::string& s) {  // standard_conforming_strings is on
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string conninfo_value(const std::string& v) {
  if (!v.empty() && v.find_first_of(" '\\\t\n\r") == std::string::npos) return v;
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string random_password() {
  std::random_device rd;  // /dev/urandom on Linux
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) s += hex[rd() % 16];
  return s;
}

bool is_executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p); }

std::optional<fs::path> find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string s = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(s);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (is_executable(candidate)) return candidate;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Processes of a cluster. A process belongs to the cluster iff its cwd is the data directory:
// the postmaster chdirs into PGDATA and every backend inherits it. Zombies and unrelated
// processes that reuse a dead postmaster's PID have another (or no) cwd.

bool process_in_dir(pid_t pid, const fs::path& canonical_dir) {
  std::error_code ec;
  fs::path cwd = fs::read_symlink(fs::path("/proc") / std::to_string(pid) / "cwd", ec);
  return !ec && cwd == canonical_dir;
}

std::vector<pid_t> processes_in_dir(const fs::path& canonical_dir) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); }))
      continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid != ::getpid() && process_in_dir(pid, canonical_dir)) pids.push_back(pid);
  }
  return pids;
}

struct postmaster_info {
  pid_t pid = 0;
  int port = 0;
  std::string socket_dir;
};

// The live postmaster serving `cluster`, if any (postmaster.pid lines: pid, datadir, start time,
// port, first socket directory, listen address, shmem key, status).
std::optional<postmaster_info> live_postmaster(const fs::path& cluster) {
  std::error_code ec;
  fs::path pidfile = cluster / "postmaster.pid";
  if (!fs::exists(pidfile, ec)) return std::nullopt;
  std::istringstream in(read_file(pidfile));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) return std::nullopt;
  postmaster_info info;
  try {
    info.pid = static_cast<pid_t>(std::stol(lines[0]));
    if (lines.size() > 3) info.port = std::stoi(lines[3]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (lines.size() > 4) info.socket_dir = trim(lines[4]);
  fs::path canonical = fs::canonical(cluster, ec);
  if (ec || info.pid <= 0 || !process_in_dir(info.pid, canonical)) return std::nullopt;
  return info;
}

}  // namespace

// =============================================================================================

struct embedded_pg::impl {
  embedded_pg_options opts;
  os_user user;          // who runs PostgreSQL
  os_user self;          // who we are (for programs that need no privilege drop)
  fs::path root;         // holds cluster/, sock/, postgresql.log (data_dir, or relocated)
  fs::path cluster;      // PGDATA
  fs::path sock_dir;
  fs::path log_file;
  fs::path bin;
  int port = 0;          // the server's port (socket name; TCP port too if tcp_port > 0)
  bool running = false;
  bool ours = false;
  int lock_fd = -1;

  explicit impl(embedded_pg_options o) : opts(std::move(o)) {
    if (opts.database.empty()) opts.database = "beampipe";
    port = opts.tcp_port > 0 ? opts.tcp_port : opts.port;
  }

  fs::path tool(const char* name) const { return bin / name; }

  run_result run(const std::vector<std::string>& args, bool as_server_user = true) const {
    return run_program(args, as_server_user ? user : self);
  }

  void run_checked(const std::vector<std::string>& args) const {
    run_result r = run(args);
    if (r.exit_code != 0) fail(describe(args, r));
  }

  // --- locking: serialises start()/stop() of processes sharing data_dir ---
  void lock() {
    fs::path p = opts.data_dir / ".lock";
    lock_fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0) fail("cannot open " + p.string() + ": " + errno_text(errno));
    const auto deadline = clock_type::now() + std::chrono::seconds(2 * wait_seconds);
    while (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        int err = errno;
        unlock();
        fail("cannot lock " + p.string() + ": " + errno_text(err));
      }
      if (clock_type::now() > deadline) {
        unlock();
        fail("timed out waiting for the lock on " + p.string() + " (another beampipe starting PostgreSQL?)");
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  void unlock() noexcept {
    if (lock_fd >= 0) ::close(lock_fd);
    lock_fd = -1;
  }
  struct lock_guard {
    impl& i;
    explicit lock_guard(impl& x) : i(x) { i.lock(); }
    ~lock_guard() { i.unlock(); }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;
  };

  void resolve_user() {
    self = current_user();
    if (self.uid != 0) {
      user = self;
      return;
    }
    auto u = lookup_user(server_user_name);
    if (!u) {
      fs::path useradd = is_executable("/usr/sbin/useradd") ? fs::path("/usr/sbin/useradd") : fs::path("/sbin/useradd");
      fs::path nologin = is_executable("/usr/sbin/nologin") ? fs::path("/usr/sbin/nologin") : fs::path("/bin/false");
      std::vector<std::string> args{useradd.string(), "--system", "--user-group", "--no-create-home",
                                    "--home-dir", server_user_home, "--shell", nologin.string(),
                                    "--comment", "beampipe PostgreSQL", server_user_name};
      spdlog::info("creating system user {} for PostgreSQL", server_user_name);
      run_result r = run_program(args, self);
      u = lookup_user(server_user_name);  // a concurrent process may have created it
      if (!u) fail("cannot create system user " + std::string(server_user_name) + ": " + describe(args, r));
    }
    user = *u;
    user.drop = true;
  }

  void resolve_bin_dir() {
    std::error_code ec;
    if (!opts.bin_dir.empty()) {
      bin = opts.bin_dir;
    } else {
      const fs::path base = "/usr/lib/postgresql";
      // An existing cluster can only be run by its own major version.
      const std::string existing = existing_version();
      if (!existing.empty() && is_executable(base / existing / "bin" / "pg_ctl")) {
        bin = base / existing / "bin";
      } else {
        int best = -1;
        for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
          const std::string name = it->path().filename().string();
          if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); }))
            continue;
          int v = std::stoi(name);
          if (v > best && is_executable(it->path() / "bin" / "pg_ctl")) {
            best = v;
            bin = it->path() / "bin";
          }
        }
        if (best < 0) {
          if (auto pg_config = find_in_path("pg_config")) {
            run_result r = run_program({pg_config->string(), "--bindir"}, self, 30s);
            if (r.exit_code == 0) bin = trim(r.output);
          }
        }
      }
      if (bin.empty())
        fail("PostgreSQL server programs not found in /usr/lib/postgresql/*/bin nor via pg_config "
             "(install postgresql, or set DATABASE_URL to use an existing server)");
    }
    for (const char* t : {"initdb", "pg_ctl", "postgres", "psql", "pg_isready", "createdb"})
      if (!is_executable(tool(t))) fail("PostgreSQL program " + tool(t).string() + " not found or not executable");
    if (!existing_version().empty()) {
      run_result r = run_program({tool("pg_ctl").string(), "--version"}, self, 30s);
      // "pg_ctl (PostgreSQL) 15.18 (Debian ...)" -> major "15"
      std::string out = r.output;
      auto p = out.find(") ");
      std::string major = p == std::string::npos ? std::string() : out.substr(p + 2, out.find_first_of(". \n", p + 2) - p - 2);
      if (!major.empty() && major != existing_version())
        fail("cluster in " + cluster.string() + " was initialised by PostgreSQL " + existing_version() + " but " +
             bin.string() + " is PostgreSQL " + major);
    }
  }

  std::string existing_version() const {
    std::error_code ec;
    if (cluster.empty() || !fs::exists(cluster / "PG_VERSION", ec)) return {};
    return trim(read_file(cluster / "PG_VERSION"));
  }

  // Decide where the cluster lives (see header). Sticky: an existing data_dir/cluster wins.
  void resolve_layout() {
    std::error_code ec;
    const fs::path data_dir = opts.data_dir;
    const fs::path link = data_dir / "cluster";
    if (fs::is_symlink(link, ec)) {
      fs::path target = fs::read_symlink(link, ec);
      if (ec || !target.is_absolute()) fail(link.string() + " is a symlink but not to an absolute path");
      root = target.parent_path();
    } else if (fs::exists(link, ec)) {
      root = data_dir;
    } else if (!user_can_access(user, data_dir, X_OK | W_OK)) {
      root = fs::path(server_user_home) / "clusters" / hash_hex(data_dir.string());
      spdlog::info("user {} cannot reach {}; the cluster goes to {}", user.name, data_dir.string(), root.string());
    } else {
      root = data_dir;
    }
    cluster = root / "cluster";
    log_file = root / "postgresql.log";
    sock_dir = root / "sock";
    const std::string socket_name = "/.s.PGSQL." + std::to_string(port);
    if (sock_dir.string().size() + socket_name.size() > max_socket_path)
      sock_dir = fs::path("/tmp") / ("beampipe-" + std::to_string(user.uid) + "-" + hash_hex(root.string()));
    check_shell_safe(cluster);
    check_shell_safe(log_file);

    if (root != data_dir) {
      make_owned_dir(server_user_home, user, 0755);
      make_owned_dir(root.parent_path(), user, 0700);
      make_owned_dir(root, user, 0700);
      auto ensure_link = [&](const fs::path& from, const fs::path& to) {
        std::error_code e;
        if (fs::is_symlink(from, e) || fs::exists(from, e)) return;
        fs::create_symlink(to, from, e);
        if (e) fail("cannot create symlink " + from.string() + ": " + e.message());
      };
      ensure_link(link, cluster);
      ensure_link(data_dir / "postgresql.log", log_file);
      if (sock_dir.parent_path() == root) ensure_link(data_dir / "sock", sock_dir);
    }
    if (!user_can_access(user, root, X_OK | W_OK))
      fail("PostgreSQL user " + user.name + " cannot write to " + root.string());

    if (sock_dir.parent_path() == root) {
      make_owned_dir(sock_dir, user, 0700);
    } else {
      // Shared /tmp: accept only a real directory owned by the server user.
      if (::mkdir(sock_dir.c_str(), 0700) != 0 && errno != EEXIST)
        fail("cannot create " + sock_dir.string() + ": " + errno_text(errno));
      struct stat st {};
      if (::lstat(sock_dir.c_str(), &st) != 0) fail("cannot stat " + sock_dir.string() + ": " + errno_text(errno));
      if (S_ISDIR(st.st_mode) && st.st_uid == 0 && user.drop) {
        chown_to(sock_dir, user);
        st.st_uid = user.uid;
      }
      if (!S_ISDIR(st.st_mode) || st.st_uid != user.uid)
        fail(sock_dir.string() + " is not a directory owned by " + user.name + "; remove it");
      ::chmod(sock_dir.c_str(), 0700);
    }
  }

  void remove_stale_state() {
    std::error_code ec;
    fs::path canonical = fs::canonical(cluster, ec);
    if (!ec) {
      // Backends orphaned by a killed postmaster notice its death and exit on their own.
      auto deadline = clock_type::now() + 5s;
      auto pids = processes_in_dir(canonical);
      while (!pids.empty() && clock_type::now() < deadline) {
        std::this_thread::sleep_for(100ms);
        pids = processes_in_dir(canonical);
      }
      if (!pids.empty()) {
        spdlog::warn("killing {} orphaned PostgreSQL process(es) of {}", pids.size(), cluster.string());
        for (pid_t p : pids) ::kill(p, SIGKILL);
        deadline = clock_type::now() + 5s;
        while (!processes_in_dir(canonical).empty() && clock_type::now() < deadline) std::this_thread::sleep_for(100ms);
        if (!processes_in_dir(canonical).empty())
          fail("orphaned PostgreSQL processes of " + cluster.string() + " do not exit");
      }
    }
    // PostgreSQL removes a stale lock file itself unless its PID is still taken: by a zombie (a
    // killed postmaster nobody reaped) or a reused PID. Nothing of this cluster runs now, and the
    // socket directory is private to it, so these files are safe to remove.
    const std::string sock = ".s.PGSQL." + std::to_string(port);
    for (const fs::path& p : {cluster / "postmaster.pid", sock_dir / (sock + ".lock"), sock_dir / sock}) {
      if (fs::exists(fs::symlink_status(p, ec))) {
        spdlog::info("removing stale {}", p.string());
        fs::remove(p, ec);
      }
    }
  }

  void initdb() {
    std::error_code ec;
    if (fs::exists(cluster / "PG_VERSION", ec)) return;
    if (fs::exists(cluster, ec)) {
      if (!fs::is_empty(cluster, ec))
        fail(cluster.string() + " exists but holds no PostgreSQL cluster (no PG_VERSION); move it away");
      fs::remove(cluster, ec);
    }
    // initdb into a temporary directory and rename it: an interrupted initdb never leaves a
    // half-initialised cluster behind.
    const fs::path tmp = root / "cluster.initdb-tmp";
    fs::remove_all(tmp, ec);
    spdlog::info("initialising PostgreSQL cluster in {}", cluster.string());
    const std::string password = random_password();
    const fs::path pwfile = root / ".initdb-pwfile";
    write_file(pwfile, password + "\n", 0600);
    chown_to(pwfile, user);
    locale_t c_utf8 = ::newlocale(LC_ALL_MASK, "C.UTF-8", nullptr);
    if (c_utf8 != nullptr) ::freelocale(c_utf8);
    std::vector<std::string> args{tool("initdb").string(),
                                  "--pgdata=" + tmp.string(),
                                  "--username=" + std::string(server_role),
                                  "--auth-local=trust",
                                  "--auth-host=scram-sha-256",
                                  "--pwfile=" + pwfile.string(),
                                  "--encoding=UTF8",
                                  std::string("--locale=") + (c_utf8 != nullptr ? "C.UTF-8" : "C"),
                                  "--no-instructions"};
    run_result r = run(args);
    fs::remove(pwfile, ec);
    if (r.exit_code != 0) {
      fs::remove_all(tmp, ec);
      fail(describe(args, r));
    }
    {
      std::ofstream conf(tmp / "postgresql.conf", std::ios::app);
      conf << "\n# beampipe: settings managed by beampipe, rewritten on every start\n"
           << "include_if_exists = 'beampipe.conf'\n";
      if (!conf) fail("cannot append to " + (tmp / "postgresql.conf").string());
    }
    fs::rename(tmp, cluster, ec);
    if (ec) fail("cannot rename " + tmp.string() + " to " + cluster.string() + ": " + ec.message());
    fs::path pw_copy = opts.data_dir / "password";
    write_file(pw_copy, password + "\n", 0600);  // owned by the invoking user, not the server
  }

  void write_settings() {
    std::ostringstream c;
    c << "# Written by beampipe on every start of the embedded server; edits are lost.\n"
      << "listen_addresses = " << conf_quote(opts.tcp_port > 0 ? "127.0.0.1" : "") << "\n"
      << "port = " << port << "\n"
      << "unix_socket_directories = " << conf_quote(sock_dir.string()) << "\n"
      << "logging_collector = off\n"
      << "log_line_prefix = '%m [%p] %q%u@%d '\n";
    const fs::path p = cluster / "beampipe.conf";
    write_file(p, c.str(), 0600);
    chown_to(p, user);
  }

  void fix_ownership() {
    if (!user.drop) return;
    struct stat st {};
    if (::stat(cluster.c_str(), &st) == 0 && st.st_uid == user.uid) return;
    spdlog::info("changing owner of {} to {}", cluster.string(), user.name);
    chown_to(cluster, user);
    std::error_code ec;
    for (fs::recursive_directory_iterator it(cluster, ec), end; !ec && it != end; it.increment(ec)) chown_to(it->path(), user);
  }

  // Poll pg_isready until the server accepts connections (it may be in crash recovery).
  void wait_ready() {
    const auto deadline = clock_type::now() + std::chrono::seconds(wait_seconds);
    std::vector<std::string> args{tool("pg_isready").string(), "-q", "-h", sock_dir.string(), "-p",
                                  std::to_string(port), "-U", server_role, "-d", "postgres", "-t", "5"};
    for (;;) {
      run_result r = run(args);
      if (r.exit_code == 0) return;
      if (r.exit_code == 3) fail(describe(args, r));
      if (!live_postmaster(cluster)) fail("server exited; log " + log_file.string() + ":\n" + tail_of_file(log_file));
      if (clock_type::now() > deadline)
        fail("server not ready after " + std::to_string(wait_seconds) + "s; log " + log_file.string() + ":\n" +
             tail_of_file(log_file));
      std::this_thread::sleep_for(250ms);
    }
  }

  void ensure_database() {
    std::vector<std::string> query{tool("psql").string(), "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1",
                                   "-h", sock_dir.string(), "-p", std::to_string(port), "-U", server_role,
                                   "-d", "postgres", "-c",
                                   "select 1 from pg_database where datname = " + sql_literal(opts.database)};
    run_result r = run(query);
    if (r.exit_code != 0) fail(describe(query, r));
    if (trim(r.output) == "1") return;
    std::vector<std::string> create{tool("createdb").string(), "-w", "-h", sock_dir.string(), "-p",
                                    std::to_string(port), "-U", server_role, "--", opts.database};
    r = run(create);
    if (r.exit_code != 0 && r.output.find("already exists") == std::string::npos) fail(describe(create, r));
    if (r.exit_code == 0) spdlog::info("created database {}", opts.database);
  }

  void pg_ctl_stop() {
    std::vector<std::string> args{tool("pg_ctl").string(), "stop", "-D", cluster.string(), "-m", "fast", "-w",
                                  "-t", std::to_string(wait_seconds)};
    run_result r = run(args);
    if (r.exit_code == 0 || !live_postmaster(cluster)) return;
    spdlog::warn("fast shutdown of PostgreSQL failed ({}); trying immediate shutdown", describe(args, r));
    args[5] = "immediate";
    args[8] = "30";
    r = run(args);
    if (r.exit_code != 0 && live_postmaster(cluster)) fail(describe(args, r));
  }

  void start() {
    if (running) return;
    if (opts.data_dir.empty()) fail("no data folder given");
    if (opts.port <= 0 || opts.port > 65535 || opts.tcp_port < 0 || opts.tcp_port > 65535) fail("invalid port");
    resolve_user();
    make_owned_dir(fs::absolute(opts.data_dir), user, 0700);
    opts.data_dir = fs::canonical(opts.data_dir);
    lock_guard guard(*this);
    resolve_layout();
    resolve_bin_dir();

    if (auto pm = live_postmaster(cluster)) {
      // Another process (an earlier or concurrent beampipe) runs it: use its socket and port.
      if (pm->port > 0) port = pm->port;
      if (!pm->socket_dir.empty()) sock_dir = pm->socket_dir;
      wait_ready();
      ensure_database();
      running = true;
      // The beampipe that started it is gone (killed, crashed): this process adopts the server
      // and stops it on a clean exit, instead of leaving it running for good (issue #17).
      ours = !owner_alive();
      if (ours) {
        write_owner();
        spdlog::info("adopted PostgreSQL running in {} (pid {}): the process that started it is gone",
                     cluster.string(), pm->pid);
      } else {
        spdlog::info("using PostgreSQL already running in {} (pid {})", cluster.string(), pm->pid);
      }
      return;
    }

    initdb();
    fix_ownership();
    remove_stale_state();
    write_settings();
    std::vector<std::string> args{tool("pg_ctl").string(), "start", "-D", cluster.string(), "-l", log_file.string(),
                                  "-w", "-t", std::to_string(wait_seconds)};
    run_result r = run(args);
    if (r.exit_code != 0) {
      std::string msg = describe(args, r) + "\nlog " + log_file.string() + ":\n" + tail_of_file(log_file);
      if (live_postmaster(cluster)) {  // e.g. still in recovery when -t expired: do not leak it
        try {
          pg_ctl_stop();
        } catch (const std::exception& e) {
          msg += "\n(stopping it failed too: " + std::string(e.what()) + ")";
        }
      }
      fail(msg);
    }
    running = true;
    ours = true;
    write_owner();
    try {
      wait_ready();
      ensure_database();
    } catch (...) {
      try {
        pg_ctl_stop();
      } catch (...) {
      }
      running = false;
      throw;
    }
    spdlog::info("started PostgreSQL {} in {} (socket {}, port {}{})", existing_version(), cluster.string(),
                 sock_dir.string(), port, opts.tcp_port > 0 ? ", also on 127.0.0.1" : "");
  }

  // The beampipe process that owns (started or adopted) the running server.
  fs::path owner_file() const { return root / "beampipe-owner.pid"; }

  void write_owner() {
    try {
      write_file(owner_file(), std::to_string(::getpid()) + "\n", 0600);
    } catch (const std::exception& e) {
      spdlog::warn("cannot record the owner of the embedded PostgreSQL: {}", e.what());
    }
  }

  // A live beampipe process (not a reused pid) recorded as the owner.
  bool owner_alive() const {
    std::ifstream in(owner_file());
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return false;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    return std::getline(comm, name) && name.rfind("beampipe", 0) == 0;
  }

  void stop() {
    if (!running) return;
    if (!ours) {
      spdlog::info("leaving PostgreSQL in {} running (started by another process)", cluster.string());
      running = false;
      return;
    }
    lock_guard guard(*this);
    if (live_postmaster(cluster)) pg_ctl_stop();
    std::error_code ec;
    fs::remove(owner_file(), ec);
    running = false;
    spdlog::info("stopped PostgreSQL in {}", cluster.string());
  }

  std::string conninfo() const {
    fs::path host = sock_dir.empty() ? opts.data_dir / "sock" : sock_dir;
    return "host=" + conninfo_value(host.string()) + " port=" + std::to_string(port) +
           " user=" + conninfo_value(server_role) + " dbname=" + conninfo_value(opts.database);
  }
};

embedded_pg::embedded_pg(embedded_pg_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

embedded_pg::~embedded_pg() {
  try {
    if (impl_ && impl_->running && impl_->ours) impl_->stop();
  } catch (const std::exception& e) {
    try {
      spdlog::error("stopping embedded PostgreSQL failed: {}", e.what());
    } catch (...) {
    }
  } catch (...) {
  }
}

void embedded_pg::start() { impl_->start(); }
void embedded_pg::stop() { impl_->stop(); }
std::string embedded_pg::conninfo() const { return impl_->conninfo(); }
bool embedded_pg::started_by_us() const { return impl_->ours; }

}  // namespace beampipe::store
