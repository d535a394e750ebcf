// The execution coordinator and run actors under CAF's test coordinator: the steps are the
// test's (they record what ran) and queue instead of running, so each test chooses when a
// scan, a poll round or a step ends, and time moves only when the test moves it.
#include <doctest/doctest.h>

#include "actors/execution_run.hpp"
#include "queued_jobs.hpp"

using namespace beampipe;
using namespace std::chrono_literals;

namespace {

actors::work_row row(const std::string& id, const std::string& submission,
                     const std::string& status, int64_t version = 1) {
  actors::work_row w;
  w.id = id;
  w.submission = submission;
  w.status = status;
  w.version = version;
  w.backend_kind = "rest_remote";
  w.target = "dim-1";
  if (submission == "submitted") w.scheduler_job_id = "session-" + id;
  return w;
}

struct fake_steps : actors::run_steps {
  test::queued_jobs work;                // scans, rounds and steps, oldest first
  std::vector<actors::work_row> listed;  // what the ledger lists
  std::vector<std::string> calls;        // every step, as "step:id"
  std::vector<std::vector<std::string>> rounds;
  bool asked = true;  // whether poll rounds reach the target

  std::vector<actors::work_row> needing_work() override { return listed; }
  actors::poll_round poll(const std::string& target, const std::vector<std::string>& ids,
                          int) override {
    rounds.push_back(ids);
    actors::poll_round r{target, ids, {}, asked};
    for (const auto& id : ids) {
      actors::poll_answer a;
      a.ref.execution_id = id;
      if (asked)
        a.observed = adapters::observation{};
      else
        a.error = "connection refused";
      r.answers.push_back(std::move(a));
    }
    return r;
  }
  std::chrono::milliseconds poll_interval(const std::string&, int failures) const override {
    return 3s * (1 << std::min(failures, 4));
  }
  void finalize(actors::run_memory& m) override {
    calls.push_back("finalize:" + m.id);
    m.seen_version = 3;  // what finalize_sources wrote
    m.finished = true;
  }
  void execute(const std::string&, actors::run_memory& m) override {
    calls.push_back("execute:" + m.id);
    m.seen_version = 5;  // what its commands wrote
  }
  void orphaned(actors::run_memory& m) override { calls.push_back("orphaned:" + m.id); }
  void lookup(actors::run_memory& m) override {
    calls.push_back("lookup:" + m.id);
    m.lookup_wait = 30s;
  }
  void cancel(actors::run_memory& m) override {
    calls.push_back("cancel:" + m.id);
    ++m.cancel_attempts;  // not confirmed
  }
  void polled(const actors::poll_answer& a, actors::run_memory& m) override {
    calls.push_back((a.observed ? "polled:" : "poll_failed:") + m.id);
  }
  void run_blocking(std::function<void()> job) override { work.push_back(std::move(job)); }
};

struct executing {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg.set("scheduler.policy", caf::atom("testing"))};
  caf::scheduler::test_coordinator& sched{
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())};
  fake_steps steps;
  actors::executions_actor coordinator;

  void start() {
    coordinator = actors::spawn_executions(sys, &steps, {500ms, 16});
    sched.run();
  }
  void run_job(size_t index = 0) { test::run_queued(steps.work, sched, index); }
  // Runs every queued job (and what they cause) until none is left.
  void drain() {
    for (int i = 0; i < 100 && !steps.work.empty(); ++i) run_job();
    REQUIRE(steps.work.empty());
  }
  // The next scan: its timer, then the scan itself and whatever it hands out.
  void scan() {
    REQUIRE(sched.trigger_timeout());
    sched.run();
    drain();
  }
  ~executing() {
    if (coordinator) caf::anon_send_exit(coordinator, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(executing,
                  "a poll answer that arrives after a cancel was asked is recorded "
                  "first, and the cancel then runs once per backoff") {
  steps.listed = {row("r1", "submitted", "running")};
  start();
  run_job();  // the scan: r1's target round goes out
  REQUIRE(steps.work.size() == 1);

  // The operator cancels while the round is out; the next scan sees it but leaves the run be.
  auto cancelling = row("r1", "submitted", "running", 2);
  cancelling.cancel_requested = true;
  steps.listed = {cancelling};
  REQUIRE(sched.trigger_timeout());
  sched.run();
  REQUIRE(steps.work.size() == 2);
  run_job(1);                     // that scan
  CHECK(steps.work.size() == 1);  // no cancel while the poll is out
  run_job();                      // the round ends: r1 records its answer
  run_job();
  CHECK(steps.calls == std::vector<std::string>{"polled:r1"});

  scan();  // now the cancel
  CHECK(steps.calls == std::vector<std::string>{"polled:r1", "cancel:r1"});
  scan();  // half a second later: not confirmed, but its backoff (3 s) has not passed
  CHECK(steps.calls.size() == 2);
  sched.advance_time(3s);  // (fires the scan timer too)
  sched.run();
  drain();
  CHECK(steps.calls == std::vector<std::string>{"polled:r1", "cancel:r1", "cancel:r1"});
}

TEST_CASE_FIXTURE(executing,
                  "an unresolved submission is looked up once per interval on the "
                  "actor clock") {
  steps.listed = {row("r2", "uncertain", "running")};
  start();
  drain();
  CHECK(steps.calls == std::vector<std::string>{"lookup:r2"});
  for (int i = 0; i < 5; ++i) scan();  // 2.5 s: not due
  CHECK(steps.calls.size() == 1);
  sched.advance_time(30s);
  sched.run();
  drain();
  CHECK(steps.calls == std::vector<std::string>{"lookup:r2", "lookup:r2"});
}

TEST_CASE_FIXTURE(executing,
                  "a row older than what this process wrote waits for the read "
                  "model; a poll does not") {
  auto queued = row("r3", "not_started", "pending", 1);
  queued.execute_requested = true;
  steps.listed = {queued};
  start();
  drain();
  REQUIRE(steps.calls == std::vector<std::string>{"execute:r3"});
  queued.version = 4;  // the read model is behind the version 5 the step wrote
  steps.listed = {queued};
  scan();
  CHECK(steps.calls.size() == 1);

  steps.listed = {row("r3", "submitted", "running", 4)};  // still behind, but polled
  scan();
  CHECK(steps.calls == std::vector<std::string>{"execute:r3", "polled:r3"});
}

TEST_CASE_FIXTURE(executing,
                  "a run lives while the ledger lists it: finalised or gone, its actor "
                  "ends, and an ended run's stale row is not stepped again") {
  steps.listed = {row("r4", "submitted", "completed", 2), row("r5", "in_flight", "running")};
  auto before = sys.registry().running();
  start();
  REQUIRE(sys.registry().running() == before + 1);  // the coordinator
  run_job();                                        // the scan
  CHECK(sys.registry().running() == before + 3);    // and a run actor for each run
  drain();
  CHECK(steps.calls == std::vector<std::string>{"finalize:r4"});  // r5 waits for its owner
  CHECK(sys.registry().running() == before + 2);                  // r4's run is over

  // The read model has not shown the finalisation yet: the run is not finalised twice.
  scan();
  CHECK(steps.calls == std::vector<std::string>{"finalize:r4"});

  steps.listed = {};
  scan();
  CHECK(sys.registry().running() == before + 1);  // r5 is no longer listed
}

TEST_CASE_FIXTURE(executing,
                  "a target that cannot be asked is asked less and less often, "
                  "and each run records that once per round") {
  steps.asked = false;
  steps.listed = {row("r6", "submitted", "running"), row("r7", "submitted", "running")};
  start();
  drain();
  REQUIRE(steps.rounds.size() == 1);
  CHECK(steps.rounds[0] == std::vector<std::string>{"r6", "r7"});  // one round for both
  CHECK(steps.calls == std::vector<std::string>{"poll_failed:r6", "poll_failed:r7"});
  sched.advance_time(3s);  // the first interval: asked again
  sched.run();
  drain();
  REQUIRE(steps.rounds.size() == 2);
  sched.advance_time(3s);  // after one failure the interval is 6 s: not yet
  sched.run();
  drain();
  CHECK(steps.rounds.size() == 2);
  sched.advance_time(3s);
  sched.run();
  drain();
  CHECK(steps.rounds.size() == 3);
}
