// Slurm over SSH against a real single-node Slurm 22.05 (scripts/slurm-up.sh) with the
// stand-in DALiuGE (scripts/slurm-dlg-standin.sh); ctest fixture "slurm".
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include "adapters/slurm_client.hpp"
#include "adapters/ssh_session.hpp"
#include "util/ids.hpp"

using namespace beampipe::adapters;
namespace dom = beampipe::domain;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

slurm_target target() {
  slurm_target t;
  t.host = env("BEAMPIPE_TEST_SLURM_HOST", "127.0.0.1");
  t.port = std::stoi(env("BEAMPIPE_TEST_SLURM_PORT", "2222"));
  t.user = env("BEAMPIPE_TEST_SLURM_USER", "hpc");
  t.private_key_file = env("BEAMPIPE_TEST_SLURM_KEY", "/var/lib/loopback-slurm/id_ed25519");
  t.known_hosts_file =
      env("BEAMPIPE_TEST_SLURM_KNOWN_HOSTS", "/var/lib/loopback-slurm/known_hosts");
  return t;
}

ssh_options session_options() {
  auto t = target();
  ssh_options o;
  o.host = t.host;
  o.port = t.port;
  o.user = t.user;
  o.private_key_file = t.private_key_file;
  o.known_hosts_file = t.known_hosts_file;
  o.connect_timeout = 10s;
  o.command_timeout = 60s;
  return o;
}

slurm_client_options client_options() {
  slurm_client_options o;
  o.cancel_confirm_polls = 40;
  o.cancel_confirm_interval = 1s;
  o.cancel_confirm_limit = 60s;
  return o;
}

std::string dlg_root() { return env("BEAMPIPE_TEST_SLURM_DLG_ROOT", "/home/hpc/dlg"); }

dom::SlurmRemoteDeployment deployment() {
  dom::SlurmRemoteDeployment d;
  d.login_node = target().host;
  d.ssh_port = target().port;
  d.remote_user = target().user;
  d.account = "beampipe-test";
  d.home_dir = "/home/" + target().user;
  d.dlg_root = dlg_root() + "/";  // the trailing '/' is trimmed
  d.log_dir = dlg_root() + "/log";
  d.facility = "loopback";
  d.job_duration_minutes = 5;
  // Two lines: exercises INI continuation lines and the prelude.
  d.modules = "true\nexport BEAMPIPE_TEST_MODULES=loaded";
  d.resources = dom::SlurmResources{};
  d.resources->cpus_per_task = 1;  // the loopback node has 2 CPUs; DALiuGE's script asks 2
  return d;
}

std::string fresh_session_id() {
  auto now = std::chrono::system_clock::now();
  return "BeampipeExecution-" + beampipe::util::uuid_v7() + "-" +
         dom::slurm_utc_time(now).replace(13, 1, "-").replace(16, 1, "-");
}

slurm_submit_request request(const std::string& sid, int exit_code, int sleep_seconds = 0) {
  slurm_submit_request r;
  r.deployment = deployment();
  r.execution_id = beampipe::util::uuid_v7();
  r.session_id = sid;
  r.pgt_json = R"([")" + sid +
               R"(.pgt.graph",[{"oid":"a","node":"127.0.0.1","island":"127.0.0.1"},)"
               R"({"reprodata":{},"beampipe_test_exit_code":)" +
               std::to_string(exit_code) + R"(,"beampipe_test_sleep_seconds":)" +
               std::to_string(sleep_seconds) + "}]]";
  return r;
}

// Polls until pred holds or the deadline passes; returns the last observation.
dom::SlurmObservation wait_for(slurm_client& c, const std::string& id,
                               const std::function<bool(const dom::SlurmObservation&)>& pred,
                               std::chrono::seconds limit = 120s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  dom::SlurmObservation last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = c.poll({id}).at(id);
    if (pred(last)) return last;
    std::this_thread::sleep_for(1s);
  }
  return last;
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("beampipe-slurm-test-" + beampipe::util::uuid_v7());
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("ssh session: exec, stdin, exit codes, missing exit status, upload") {
  ssh_session s(session_options());
  auto r = s.exec("echo out; echo err >&2; exit 7");
  CHECK(r.exit_status == 7);
  CHECK(r.stdout_text == "out\n");
  CHECK(r.stderr_text == "err\n");

  auto echo = s.exec("cat", "line one\nline two\n");
  CHECK(echo.exit_status == 0);
  CHECK(echo.stdout_text == "line one\nline two\n");

  // A shell killed by a signal sends exit-signal, not exit-status.
  auto killed = s.exec("kill -9 $$");
  CHECK_FALSE(killed.exit_status.has_value());

  const std::string path = dlg_root() + "/upload-test-" + beampipe::util::uuid_v7() + " x.txt";
  s.upload(path, "it's $HOME\n");
  auto back = s.exec("cat -- " + dom::shell_quote(path) + " && stat -c %a -- " +
                     dom::shell_quote(path) + " && rm -f -- " + dom::shell_quote(path));
  CHECK(back.exit_status == 0);
  CHECK(back.stdout_text == "it's $HOME\n600\n");
  CHECK_THROWS_AS(s.upload("/nonexistent-dir/x", "x"), ssh_error);
  CHECK(s.usable());
}

TEST_CASE("probe") {
  slurm_client c(target(), client_options());
  auto p = c.probe();
  CHECK_MESSAGE(p.ok, p.detail);
  CHECK(p.missing_commands.empty());
  // The dependency prober's check: a real Slurm command on the pooled connection.
  auto v = c.check_command(std::chrono::seconds(5));
  CHECK_MESSAGE(v.ok, v.detail);
  CHECK(v.detail.rfind("slurm", 0) == 0);  // squeue's version line
}

TEST_CASE("submit, then poll to COMPLETED with exit code 0") {
  slurm_client c(target(), client_options());
  const auto sid = fresh_session_id();
  auto res = c.submit(request(sid, 0));
  CHECK(dom::valid_slurm_job_id(res.slurm_job_id));
  CHECK(res.session_dir.rfind(dlg_root() + "/workspace/" + sid + "_", 0) == 0);
  CHECK(res.staging_root == res.session_dir + "/wallaby-staging");
  CHECK(res.jobsub_path == res.session_dir + "/jobsub.sh");
  auto parsed = dom::parse_slurm_scheduler_id(res.scheduler_id);
  CHECK(parsed.session_id == sid);
  CHECK(parsed.job_id == res.slurm_job_id);
  CHECK(parsed.session_dir == res.session_dir);

  auto obs = wait_for(c, res.slurm_job_id, [](const dom::SlurmObservation& o) {
    return dom::slurm_state_terminal(o.state) && o.exit_code.has_value();
  });
  CHECK_MESSAGE(obs.state == dom::SlurmState::completed, obs.raw);
  CHECK(obs.exit_code == 0);

  // What the job saw and what was staged.
  auto files = c.run("cat -- " + dom::shell_quote(res.session_dir + "/start_dlg_cluster.log") +
                     "; test -d " + dom::shell_quote(res.staging_root) + " && echo staged;" +
                     " cat -- " + dom::shell_quote(res.session_dir + "/" + sid + ".pgt.graph"));
  CHECK(files.stdout_text.find("session " + sid + "_") != std::string::npos);
  CHECK(files.stdout_text.find("staged") != std::string::npos);
  CHECK(files.stdout_text.find("beampipe_test_exit_code") != std::string::npos);
}

TEST_CASE("a failing job is FAILED with its exit code (sacct)") {
  slurm_client c(target(), client_options());
  auto res = c.submit(request(fresh_session_id(), 3));
  auto obs = wait_for(c, res.slurm_job_id, [](const dom::SlurmObservation& o) {
    return dom::slurm_state_terminal(o.state) && o.exit_code.has_value();
  });
  CHECK_MESSAGE(obs.state == dom::SlurmState::failed, obs.raw);
  CHECK(obs.exit_code == 3);
  // The job's stderr is where the failure diagnostics point, not in the remote $HOME.
  auto logs = c.run("ls -1 " + dom::slurm_stderr_glob(res.session_dir) + "; cat " +
                    dom::slurm_stderr_glob(res.session_dir) + "; ls ~/err-" + res.slurm_job_id +
                    ".log 2>/dev/null || echo 'not in home'");
  CHECK(logs.stdout_text.find(res.session_dir + "/logs/err-" + res.slurm_job_id + ".log\n") == 0);
  // srun's own report of the step's exit.
  CHECK(logs.stdout_text.find("Exited with exit code 3") != std::string::npos);
  CHECK(logs.stdout_text.find("not in home") != std::string::npos);
}

TEST_CASE("cancel a sleeping job: CANCELLED confirmed") {
  slurm_client c(target(), client_options());
  auto res = c.submit(request(fresh_session_id(), 0, 300));
  auto running = wait_for(c, res.slurm_job_id, [](const dom::SlurmObservation& o) {
    return o.state == dom::SlurmState::running || dom::slurm_state_terminal(o.state);
  });
  CHECK(running.state == dom::SlurmState::running);
  auto cancelled = c.cancel(res.slurm_job_id);
  CHECK_MESSAGE(cancelled.confirmed, cancelled.reason);
  REQUIRE(cancelled.last.has_value());
  CHECK(cancelled.last->state == dom::SlurmState::cancelled);

  // sacct spells it "CANCELLED by <uid>"; both map to CANCELLED.
  auto later = wait_for(c, res.slurm_job_id,
                        [](const dom::SlurmObservation& o) { return o.exit_code.has_value(); });
  CHECK(later.state == dom::SlurmState::cancelled);

  // A finished job cannot be cancelled any more: not confirmed, with the reason.
  auto done = c.submit(request(fresh_session_id(), 0));
  wait_for(c, done.slurm_job_id,
           [](const dom::SlurmObservation& o) { return dom::slurm_state_terminal(o.state); });
  auto late = c.cancel(done.slurm_job_id);
  CHECK_FALSE(late.confirmed);
  CHECK(late.reason.find("COMPLETED") != std::string::npos);
}

TEST_CASE("find_by_name: one job for a fresh session id, none for an unknown one") {
  slurm_client c(target(), client_options());
  const auto intent = std::chrono::system_clock::now() - 2s;
  const auto sid = fresh_session_id();
  auto res = c.submit(request(sid, 0));
  auto found = c.find_by_name(sid, intent);
  REQUIRE(found.size() == 1);
  CHECK(found[0].job_id == res.slurm_job_id);
  CHECK(found[0].name == sid);

  CHECK(c.find_by_name(fresh_session_id(), intent).empty());
  // The name is quoted: shell metacharacters do not run anything.
  CHECK(c.find_by_name("x'; touch /tmp/pwned; '", intent).empty());
}

TEST_CASE("crash between sbatch and the receipt: find_by_name adopts exactly one job") {
  slurm_client c(target(), client_options());
  const auto intent = std::chrono::system_clock::now() - 2s;
  const auto sid = fresh_session_id();
  auto req = request(sid, 0);
  std::string raw;
  req.after_sbatch = [&](const ssh_exec_result& sb) {
    raw = sb.stdout_text;
    throw std::runtime_error("simulated crash after sbatch");
  };
  CHECK_THROWS_WITH(c.submit(req), "simulated crash after sbatch");
  REQUIRE_FALSE(raw.empty());

  auto found = c.find_by_name(sid, intent);
  REQUIRE(found.size() == 1);
  auto receipt = dom::parse_sbatch_receipt(raw);
  REQUIRE(receipt.ok());
  CHECK(found[0].job_id == receipt.value().job_id);

  auto obs = wait_for(c, found[0].job_id, [](const dom::SlurmObservation& o) {
    return dom::slurm_state_terminal(o.state);
  });
  CHECK(obs.state == dom::SlurmState::completed);
  // Still exactly one once finished: squeue (-t all) and sacct report the same job id.
  CHECK(c.find_by_name(sid, intent).size() == 1);
}

TEST_CASE("poll: several ids including unknown ones (quoted squeue format)") {
  slurm_client c(target(), client_options());
  auto res = c.submit(request(fresh_session_id(), 0));
  auto m = c.poll({res.slurm_job_id, "999999", res.slurm_job_id});
  REQUIRE(m.size() == 2);
  CHECK(m.at(res.slurm_job_id).source != dom::SlurmSource::none);
  CHECK(m.at("999999").source == dom::SlurmSource::none);
  CHECK(m.at("999999").state == dom::SlurmState::unknown);

  // One unknown id: squeue exits 1 with "Invalid job id specified", which is accepted.
  auto one = c.poll({"999998"});
  CHECK(one.at("999998").state == dom::SlurmState::unknown);

  CHECK_THROWS_AS(c.poll({"1;true"}), slurm_error);

  // Many ids go out in chunks of 50.
  std::vector<std::string> many;
  for (int i = 0; i < 120; ++i) many.push_back(std::to_string(900000 + i));
  many.push_back(res.slurm_job_id);
  auto all = c.poll(many);
  CHECK(all.size() == 121);
  CHECK(all.at(res.slurm_job_id).source != dom::SlurmSource::none);
}

TEST_CASE("host key verification") {
  temp_dir tmp;
  const auto known = (tmp.path / "known_hosts").string();
  auto t = target();
  // A known_hosts line with another key for the same [host]:port.
  auto other_key = read_text(t.private_key_file + ".pub");
  other_key = other_key.substr(0, other_key.find(' ', other_key.find(' ') + 1));
  { std::ofstream(known) << "[" << t.host << "]:" << t.port << " " << other_key << "\n"; }
  auto o = session_options();
  o.known_hosts_file = known;
  try {
    ssh_session s(o);
    FAIL("a changed host key was accepted");
  } catch (const ssh_error& e) {
    CHECK(e.code() == ssh_error::kind::host_key);
    CHECK(std::string(e.what()).find(t.host) != std::string::npos);
    CHECK(std::string(e.what()).find(std::to_string(t.port)) != std::string::npos);
  }
  o.strict_host_key = false;  // never accepts a *changed* key
  CHECK_THROWS_AS(ssh_session{o}, ssh_error);

  // Unknown host: strict refuses, lax accepts.
  { std::ofstream(known) << "[otherhost]:22 " << other_key << "\n"; }
  o.strict_host_key = true;
  CHECK_THROWS_AS(ssh_session{o}, ssh_error);
  o.strict_host_key = false;
  ssh_session lax(o);
  CHECK(lax.exec("true").exit_status == 0);

  // A missing known_hosts file is an error in strict mode.
  o.strict_host_key = true;
  o.known_hosts_file = (tmp.path / "missing").string();
  try {
    ssh_session s(o);
    FAIL("missing known_hosts accepted");
  } catch (const ssh_error& e) {
    CHECK(e.code() == ssh_error::kind::host_key);
  }

  // Through the client: a transport error, never a submission.
  auto bad = t;
  bad.known_hosts_file = known;
  { std::ofstream(known) << "[" << t.host << "]:" << t.port << " " << other_key << "\n"; }
  slurm_client c(bad, client_options());
  CHECK_THROWS_AS(c.probe(), slurm_error);
  // The prober's check says why, briefly, and does not throw (sshd still sends its banner).
  auto chk = c.check_command(std::chrono::seconds(5));
  CHECK_FALSE(chk.ok);
  CHECK_MESSAGE(chk.detail.find("host key") != std::string::npos, chk.detail);
  CHECK(chk.detail.size() <= 300);
  try {
    c.submit(request(fresh_session_id(), 0));
    FAIL("submitted through a host with a changed key");
  } catch (const slurm_error& e) {
    CHECK(e.code() == slurm_error::kind::submission_failed);
  }
}

TEST_CASE("private key files readable by others are refused") {
  temp_dir tmp;
  const auto key = (tmp.path / "id_ed25519").string();
  fs::copy_file(target().private_key_file, key);
  ::chmod(key.c_str(), 0640);
  auto o = session_options();
  o.private_key_file = key;
  try {
    ssh_session s(o);
    FAIL("group-readable key accepted");
  } catch (const ssh_error& e) {
    CHECK(e.code() == ssh_error::kind::connect);
    CHECK(std::string(e.what()).find("group or others") != std::string::npos);
    CHECK(std::string(e.what()).find("PRIVATE KEY") == std::string::npos);
  }
  ::chmod(key.c_str(), 0600);
  ssh_session ok(o);
  CHECK(ok.exec("true").exit_status == 0);

  o.private_key_file = tmp.path.string();  // a directory
  CHECK_THROWS_AS(ssh_session{o}, ssh_error);
}

TEST_CASE("submit failures before sbatch are certain; a rejected sbatch is certain") {
  slurm_client c(target(), client_options());
  auto req = request(fresh_session_id(), 0);
  req.deployment.venv = "source $HOME/venv/bin/activate";  // '$' breaks ConfigParser
  try {
    c.submit(req);
    FAIL("'$' accepted");
  } catch (const slurm_error& e) {
    CHECK(e.code() == slurm_error::kind::invalid_request);
  }

  auto bad_root = request(fresh_session_id(), 0);
  bad_root.deployment.dlg_root = "/proc/beampipe-cannot-create";
  try {
    c.submit(bad_root);
    FAIL("unwritable dlg_root accepted");
  } catch (const slurm_error& e) {
    CHECK(e.code() == slurm_error::kind::submission_failed);
  }

  auto rejected = request(fresh_session_id(), 0);
  rejected.deployment.resources->partition = "no-such-partition";
  try {
    c.submit(rejected);
    FAIL("sbatch into a missing partition accepted");
  } catch (const slurm_error& e) {
    CHECK(e.code() == slurm_error::kind::submission_failed);
    CHECK(std::string(e.what()).find("sbatch") != std::string::npos);
  }
}

// Issue #17 (critical): a pooled connection the login node dropped made the retry lock the
// entry's mutex a second time, and every later call on the target blocked forever. The call
// runs on a thread with its own deadline, so a regression fails here instead of hanging CI.
TEST_CASE("a pooled connection dropped by the server: the next call reconnects, never hangs") {
  slurm_client c(target(), client_options());
  auto first = c.probe();
  REQUIRE_MESSAGE(first.ok, first.detail);
  // sshd's per-connection processes for the test user: our pooled connection among them.
  auto killed = std::system("pkill -KILL -f '^sshd: hpc' >/dev/null 2>&1");
  (void)killed;
  std::this_thread::sleep_for(200ms);
  auto probe = std::async(std::launch::async, [&] { return c.probe(); });
  if (probe.wait_for(90s) != std::future_status::ready) {
    // The blocked thread cannot be joined: say why and leave at once.
    std::fprintf(stderr,
                 "FAIL: the call after a dropped connection did not return within 90 s "
                 "(the SSH pool deadlocked)\n");
    std::_Exit(1);
  }
  auto again = probe.get();
  CHECK_MESSAGE(again.ok, again.detail);
  // And the one after it too (the entry's lock was released).
  auto third = std::async(std::launch::async, [&] { return c.probe(); });
  if (third.wait_for(90s) != std::future_status::ready) {
    std::fprintf(stderr, "FAIL: a later call blocked (the entry's lock stayed held)\n");
    std::_Exit(1);
  }
  CHECK(third.get().ok);
}

// Issue #17: sshd frozen (SIGSTOP: the listener and our pooled connection's process). Every
// call ends at its own deadline with a clear failure, never hangs, and once sshd thaws the
// frozen session has been torn down and replaced: the next call works.
TEST_CASE("a frozen login node: calls end at their deadline, and the pool recovers after") {
  auto o = client_options();
  o.connect_timeout = 4s;
  o.command_timeout = 4s;
  slurm_client c(target(), o);
  auto first = c.probe();
  REQUIRE_MESSAGE(first.ok, first.detail);
  struct thaw {
    ~thaw() {
      auto r = std::system(
          "kill -CONT $(cat /run/sshd-loopback-slurm.pid) 2>/dev/null; "
          "pkill -CONT -f '^sshd: hpc' >/dev/null 2>&1");
      (void)r;
    }
  } thaw_on_exit;
  auto frozen =
      std::system("kill -STOP $(cat /run/sshd-loopback-slurm.pid) && pkill -STOP -f '^sshd: hpc'");
  REQUIRE(frozen == 0);
  // A failure is an answer or an exception; hanging is the only wrong outcome.
  auto probe = [&] {
    try {
      return c.probe();
    } catch (const std::exception& e) {
      slurm_probe_result r;
      r.detail = e.what();
      return r;
    }
  };
  for (int i = 0; i < 2; ++i) {  // the pooled session, then a fresh connection attempt
    auto call = std::async(std::launch::async, probe);
    if (call.wait_for(90s) != std::future_status::ready) {
      std::fprintf(stderr, "FAIL: a call to a frozen sshd did not end at its deadline\n");
      std::_Exit(1);
    }
    auto r = call.get();
    CHECK_FALSE_MESSAGE(r.ok, "a frozen sshd cannot answer");
    CHECK_FALSE(r.detail.empty());
  }
  auto thawed =
      std::system("kill -CONT $(cat /run/sshd-loopback-slurm.pid) && pkill -CONT -f '^sshd: hpc'");
  REQUIRE(thawed == 0);
  auto after = std::async(std::launch::async, probe);
  if (after.wait_for(90s) != std::future_status::ready) {
    std::fprintf(stderr, "FAIL: the first call after sshd thawed did not return\n");
    std::_Exit(1);
  }
  auto again = after.get();
  CHECK_MESSAGE(again.ok, again.detail);
}
