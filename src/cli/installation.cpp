#include "cli/installation.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "app/settings.hpp"
#include "cli/api_client.hpp"
#include "cli/service.hpp"
#include "util/embedded_files.hpp"
#include "util/ids.hpp"
#include "util/time.hpp"

namespace beampipe::cli {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kEnvFile = "beampipe.env";
constexpr const char* kProject = "wallaby_hires.demo.yaml";
constexpr const char* kProfile = "deployment_profile.demo-dim.json";
constexpr const char* kGraph = "graphs/wallaby-hires_deploy-setonix-beampipe.graph";

void make_private_dir(const fs::path& dir) {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
}

// Written whole or not at all (a temporary file renamed over), owner-only when `secret`.
void write_file(const fs::path& path, std::string_view bytes, bool secret) {
  auto tmp = path;
  tmp += ".tmp-" + util::random_hex(4);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0)
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fs::remove(tmp);
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  fs::rename(tmp, path);
}

struct planned_file {
  fs::path path;
  std::string bytes;
  bool secret = false;
  bool keep_existing = false;  // a generated secret: never replaced, even with --force
};

std::string settings_text(const fs::path& dir, const init_options& o) {
  auto at = [&](const char* rel) { return (dir / rel).string(); };
  std::string t;
  t += "# beampipe settings of the installation in " + dir.string() + "\n";
  t += "# (beampipe init, " + util::to_rfc3339(util::clock::now()) + ").\n";
  t += "# Read by every beampipe command given --env-file " + at(kEnvFile) + "\n";
  t += "# or BEAMPIPE_ENV_FILE; a variable set in the environment wins over this file.\n";
  t += "# `beampipe settings` shows every setting and where its value came from.\n\n";
  t += "BEAMPIPE_DATA_DIR=" + at("data") + "\n";
  t += "# graph.path of a project config is resolved under this folder.\n";
  t += "BEAMPIPE_HOME=" + dir.string() + "\n";
  t += "BEAMPIPE_BIND_ADDR=" + o.bind_addr + "\n";
  t += "# The secrets are files (owner-only); this file names them and holds none.\n";
  t += "BEAMPIPE_JWT_SECRET_FILE=" + at("secrets/jwt_secret") + "\n";
  t += "BEAMPIPE_ADMIN_USERNAME=" + o.admin_username + "\n";
  t += "BEAMPIPE_ADMIN_PASSWORD_FILE=" + at("secrets/admin_password") + "\n";
  t += "BEAMPIPE_SSH_CREDENTIALS_DIR=" + at("ssh") + "\n";
  t += "# Without DATABASE_URL beampipe runs its own PostgreSQL in the data folder.\n";
  t += "# DATABASE_URL=postgresql://beampipe@db.example.org/beampipe\n";
  t += "# Executions run on simulated DALiuGE and Slurm backends until this is true (check a\n";
  t += "# profile's targets first: beampipe doctor --profile NAME).\n";
  t += "# BEAMPIPE_USE_REAL_BACKENDS=true\n";
  return t;
}

std::vector<planned_file> init_plan(const fs::path& dir, const init_options& o) {
  return {
      {dir / kEnvFile, settings_text(dir, o), true, false},
      {dir / "secrets/jwt_secret", util::random_hex(32) + "\n", true, true},
      {dir / "secrets/admin_password", util::random_hex(12) + "\n", true, true},
      {dir / "projects/wallaby_hires.yaml", std::string(util::embedded_example(kProject)), false,
       false},
      {dir / "profiles/demo-dim.json", std::string(util::embedded_example(kProfile)), false, false},
      {dir / kGraph, std::string(util::embedded_example(kGraph)), false, false},
  };
}

std::string next_steps_text(const fs::path& dir, const std::string& admin) {
  auto env = (dir / kEnvFile).string();
  return "Next:\n  export BEAMPIPE_ENV_FILE=" + env + "\n  beampipe setup --directory " +
         dir.string() +
         "   # start, sign in, upload the examples, run the doctor\n"
         "  or step by step: beampipe start --detach; beampipe login --username " +
         admin + " --password-file " + (dir / "secrets/admin_password").string() +
         "; beampipe project add -f " + (dir / "projects/wallaby_hires.yaml").string() + "\n";
}

fs::path folder_of(const fs::path& given) {
  auto dir = fs::absolute(given).lexically_normal();
  return dir.has_filename() ? dir : dir.parent_path();  // "/a/b/" names /a/b
}

// What a step prints itself (start_detached's line) stays out of a JSON answer.
struct quiet_stdout {
  explicit quiet_stdout(bool on) : old(on ? std::cout.rdbuf(sink.rdbuf()) : nullptr) {}
  ~quiet_stdout() {
    if (old) std::cout.rdbuf(old);
  }
  std::ostringstream sink;
  std::streambuf* old;
};

bool interactive() { return ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO); }

bool ask(const std::string& question) {
  std::cout << question << " [Y/n] " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line.empty() || line == "y" || line == "Y" || line == "yes";
}

std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// One step's outcome, as text or as a JSON row.
struct step_report {
  bool json;
  json::array rows;
  int n = 0;
  void say(const std::string& step, const std::string& status, const std::string& detail) {
    ++n;
    if (json)
      rows.push_back(json::object{{"step", step}, {"status", status}, {"detail", detail}});
    else
      std::cout << "  [" << status << "] " << step
                << std::string(step.size() < 12 ? 12 - step.size() : 1, ' ') << detail << "\n";
  }
  int finish(int rc, const fs::path& dir) {
    if (json)
      std::cout << json::serialize(
                       json::object{{"directory", dir.string()}, {"ok", rc == 0}, {"steps", rows}})
                << "\n";
    return rc;
  }
};

}  // namespace

int run_init(const init_options& o) {
  auto dir = folder_of(o.directory);
  auto plan = init_plan(dir, o);
  std::vector<std::string> existing;
  for (const auto& f : plan)
    if (!f.keep_existing && fs::exists(f.path)) existing.push_back(f.path.string());
  if (!existing.empty() && !o.force) {
    std::cerr << "beampipe: init: these files exist already (pass --force to replace them; the "
                 "generated secrets are kept either way):\n";
    for (const auto& e : existing) std::cerr << "  " << e << "\n";
    return 1;
  }
  fs::create_directories(dir);
  make_private_dir(dir / "secrets");
  make_private_dir(dir / "ssh");
  json::array created, replaced, kept;
  for (const auto& f : plan) {
    bool there = fs::exists(f.path);
    if (there && f.keep_existing) {
      kept.push_back(json::value(f.path.string()));
      continue;
    }
    fs::create_directories(f.path.parent_path());
    write_file(f.path, f.bytes, f.secret);
    (there ? replaced : created).push_back(json::value(f.path.string()));
  }
  if (o.json) {
    std::cout << json::serialize(json::object{{"directory", dir.string()},
                                              {"env_file", (dir / kEnvFile).string()},
                                              {"created", created},
                                              {"replaced", replaced},
                                              {"kept", kept}})
              << "\n";
    return 0;
  }
  std::cout << "beampipe installation in " << dir.string() << "\n";
  for (const auto& [what, list] : {std::pair{"created ", &created},
                                   std::pair{"replaced", &replaced}, std::pair{"kept    ", &kept}})
    for (const auto& p : *list)
      std::cout << "  " << what << " " << std::string(p.as_string()) << "\n";
  std::cout << "\n" << next_steps_text(dir, o.admin_username);
  return 0;
}

int run_setup(const setup_options& o) {
  auto dir = folder_of(o.directory);
  auto env_path = dir / kEnvFile;
  step_report report{o.json, {}};
  if (!o.json)
    std::cout << "beampipe setup: the first steps of the installation in " << dir.string() << "\n";

  // 1. The installation itself.
  if (!fs::exists(env_path)) {
    if (!o.yes) {
      if (!interactive()) {
        std::cerr << "beampipe: setup: " << env_path.string()
                  << " does not exist; run in a terminal to be asked, or pass --yes to create "
                     "it\n";
        return 2;
      }
      if (!ask("No installation in " + dir.string() + ". Create one there?")) {
        report.say("installation", "failed", "not created (answered no)");
        return report.finish(1, dir);
      }
    }
    init_options io;
    io.directory = dir;
    io.json = true;  // its report is this step's line
    int rc = 1;
    {
      quiet_stdout quiet(true);
      rc = run_init(io);
    }
    if (rc != 0) {
      report.say("installation", "failed", "beampipe init refused (see above)");
      return report.finish(1, dir);
    }
    report.say("installation", "done", "created " + env_path.string());
  } else {
    report.say("installation", "done", "found " + env_path.string());
  }

  // 2. Its settings, as every command given the file reads them.
  auto file = app::read_env_file(env_path.string());
  auto loaded = app::load_settings(app::with_env_file(app::process_env(), file.values));
  const auto& s = loaded.values;
  std::string url = "http://" + s.bind_addr;
  api_client api(url, url);
  auto answers = [&] { return api.answers("/health"); };

  // 3. The service.
  if (answers()) {
    report.say("service", "done", "already serving " + url);
  } else if (!o.start) {
    report.say("service", "skipped",
               "not running (--no-start): beampipe start --detach --env-file " + env_path.string());
    return report.finish(0, dir);
  } else {
    int rc = 1;
    {
      quiet_stdout quiet(o.json);
      rc = start_detached(s.data_dir, {"--env-file=" + env_path.string()});
    }
    if (rc != 0 || !answers()) {
      report.say("service", "failed",
                 "did not start; its log: beampipe logs --env-file " + env_path.string());
      return report.finish(1, dir);
    }
    report.say("service", "done", "started, serving " + url);
  }

  // 4. The sign-in, kept for the next commands (as beampipe login keeps it).
  if (s.admin_password_file.empty()) {
    report.say("sign-in", "skipped", "BEAMPIPE_ADMIN_PASSWORD_FILE is not set: beampipe login");
  } else {
    try {
      api.login(s.admin_username, first_line(s.admin_password_file));
      report.say("sign-in", "done",
                 "as " + s.admin_username + " (kept in " + credentials_path().string() + ")");
    } catch (const std::exception& e) {
      report.say("sign-in", "failed", e.what());
      return report.finish(1, dir);
    }
  }

  // 5. The project configs and deployment profiles of the installation's folders.
  auto files_in = [](const fs::path& d) {
    std::vector<fs::path> out;
    if (fs::is_directory(d))
      for (const auto& e : fs::directory_iterator(d)) {
        auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json"))
          out.push_back(e.path());
      }
    std::sort(out.begin(), out.end());
    return out;
  };
  auto read_all = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (const auto& p : files_in(dir / "projects")) {
    try {
      auto answer = api.call("POST", "/project-configs", payload("application/yaml", read_all(p)));
      bool fresh = answer.at("created").as_bool();
      report.say("project", "done",
                 p.filename().string() + (fresh ? " uploaded" : " unchanged") + ", version " +
                     json::serialize(answer.at("version")) + " active");
    } catch (const std::exception& e) {
      report.say("project", "failed", p.string() + ": " + e.what());
      return report.finish(1, dir);
    }
  }
  for (const auto& p : files_in(dir / "profiles")) {
    try {
      auto body = json::parse(read_all(p));
      api.call("POST", "/deployment-profiles", payload(body));
      report.say("profile", "done", p.filename().string() + " created");
    } catch (const api_refusal& e) {
      // A profile of that name exists: it is the operator's now, and left as it is.
      if (std::string(e.what()).find("409") == std::string::npos) {
        report.say("profile", "failed", p.string() + ": " + e.what());
        return report.finish(1, dir);
      }
      report.say("profile", "done", p.filename().string() + " exists already (left as it is)");
    } catch (const std::exception& e) {
      report.say("profile", "failed", p.string() + ": " + e.what());
      return report.finish(1, dir);
    }
  }

  // 6. The doctor's checks, as GET /diagnostics runs them.
  try {
    auto d = api.call("GET", "/diagnostics").as_object();
    const auto& sum = d.at("summary").as_object();
    std::string detail = std::to_string(sum.at("pass").as_int64()) + " passed, " +
                         std::to_string(sum.at("warn").as_int64()) + " warned, " +
                         std::to_string(sum.at("fail").as_int64()) + " failed";
    for (const auto& c : d.at("checks").as_array())
      if (c.at("status").as_string() == "fail")
        detail += "; " + std::string(c.at("id").as_string()) + ": " +
                  std::string(c.at("message").as_string());
    bool ok = d.at("ok").as_bool();
    report.say("doctor", ok ? "done" : "failed", detail);
    if (!ok) return report.finish(1, dir);
  } catch (const std::exception& e) {
    report.say("doctor", "failed", e.what());
    return report.finish(1, dir);
  }
  if (!o.json)
    std::cout << "\nbeampipe is set up. Keep using it with:\n  export BEAMPIPE_ENV_FILE="
              << env_path.string() << "\n  beampipe status; beampipe console; open " << url
              << " in a browser\n";
  return report.finish(0, dir);
}

}  // namespace beampipe::cli
