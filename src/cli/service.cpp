#include "cli/service.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

namespace beampipe::cli {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path pid_file(const fs::path& dir) { return dir / "beampipe.pid"; }
fs::path log_file(const fs::path& dir) { return dir / "beampipe.log"; }

// The pid the file names, when that process is alive and is this program (a pid reused by
// another program after a crash is not ours to signal).
std::optional<pid_t> running_pid(const fs::path& dir) {
  std::ifstream in(pid_file(dir));
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return std::nullopt;
  std::error_code ec;
  auto theirs = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  if (ec) return std::nullopt;
  auto ours = fs::read_symlink("/proc/self/exe", ec);
  // After an upgrade replaced the binary, the running one shows its path " (deleted)".
  if (ec || (theirs != ours && theirs.string() != ours.string() + " (deleted)"))
    return std::nullopt;
  return static_cast<pid_t>(pid);
}

std::deque<std::string> last_lines(const fs::path& file, size_t n) {
  std::deque<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
    if (out.size() > n) out.pop_front();
  }
  return out;
}

volatile std::sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

}  // namespace

int start_detached(const fs::path& data_dir, const std::vector<std::string>& start_args) {
  fs::create_directories(data_dir);
  if (auto pid = running_pid(data_dir)) {
    std::cerr << "beampipe: already running from " << data_dir.string() << " (pid " << *pid
              << "); beampipe stop first\n";
    return 1;
  }
  auto log = log_file(data_dir);
  auto offset = fs::exists(log) ? fs::file_size(log) : 0;  // where this start's lines begin
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log.string());
  std::vector<std::string> argv_s = {"beampipe", "start"};
  argv_s.insert(argv_s.end(), start_args.begin(), start_args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    // The service: its own session (no terminal to lose), its log as stdout and stderr.
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  ::close(log_fd);
  {
    std::ofstream pf(pid_file(data_dir), std::ios::trunc);
    pf << child << "\n";
  }
  // Up once it says where it serves; failed when it exits first. Bounded: the first start of
  // an embedded PostgreSQL initialises a cluster, which takes seconds, not minutes.
  static const std::regex serving(R"(serving (http://\S+/api/v2))");
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    in.seekg(static_cast<std::streamoff>(offset));
    std::stringstream fresh;
    fresh << in.rdbuf();
    std::smatch m;
    auto text = fresh.str();
    if (std::regex_search(text, m, serving)) {
      std::cout << "beampipe started (pid " << child << "), serving " << m[1]
                << "; its log: beampipe logs\n";
      return 0;
    }
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      fs::remove(pid_file(data_dir));
      std::cerr << "beampipe: the service exited during its start; the end of its log:\n";
      for (const auto& l : last_lines(log, 20)) std::cerr << "  " << l << "\n";
      return 1;
    }
    std::this_thread::sleep_for(100ms);
  }
  std::cerr << "beampipe: the service (pid " << child
            << ") did not report serving within 120 s; it is left running: beampipe logs\n";
  return 1;
}

int stop_service(const fs::path& data_dir) {
  auto pid = running_pid(data_dir);
  if (!pid) {
    fs::remove(pid_file(data_dir));
    std::cout << "beampipe is not running from " << data_dir.string() << "\n";
    return 0;
  }
  if (::kill(*pid, SIGTERM) != 0) throw std::runtime_error(std::strerror(errno));
  // A clean stop finishes in-flight work and stops the embedded PostgreSQL: give it a minute.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::kill(*pid, 0) != 0 && errno == ESRCH) {
      fs::remove(pid_file(data_dir));
      std::cout << "beampipe stopped (pid " << *pid << ")\n";
      return 0;
    }
    std::this_thread::sleep_for(100ms);
  }
  std::cerr << "beampipe: pid " << *pid << " did not stop within 60 s (see beampipe logs)\n";
  return 1;
}

int show_logs(const fs::path& data_dir, int lines, bool follow) {
  auto log = log_file(data_dir);
  if (!fs::exists(log)) {
    std::cerr << "beampipe: no log at " << log.string() << " (start --detach writes it)\n";
    return 1;
  }
  for (const auto& l : last_lines(log, static_cast<size_t>(lines))) std::cout << l << "\n";
  if (!follow) return 0;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::ifstream in(log);
  in.seekg(0, std::ios::end);
  std::string line;
  while (!g_interrupted) {
    if (std::getline(in, line)) {
      std::cout << line << "\n" << std::flush;
    } else {
      in.clear();
      std::this_thread::sleep_for(200ms);
    }
  }
  return 0;
}

}  // namespace beampipe::cli
