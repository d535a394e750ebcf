// The work loop (discovery, alert delivery) under CAF's test coordinator: its scans and runs
// are queued instead of run, so each test chooses when a scan answers and when an item ends.
// (No database: the ports are the test's.)
#include <doctest/doctest.h>

#include <map>

#include "actors/work_loop.hpp"
#include "queued_jobs.hpp"

using namespace beampipe;

namespace {

struct looping {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg.set("scheduler.policy", caf::atom("testing"))};
  caf::scheduler::test_coordinator& sched{
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())};
  test::queued_jobs work;               // scans and runs, oldest first
  std::vector<std::string> due;         // what the next scan lists
  std::map<std::string, bool> settles;  // an item's run result (default: settled)
  std::vector<std::string> ran;         // every run, in order
  bool scan_fails = false;
  size_t scans = 0;  // scans answered
  actors::work_loop_actor<std::string> actor;

  void start(size_t concurrency) {
    actors::work_loop_ports<std::string> p;
    p.scan = [this] {
      ++scans;
      if (scan_fails) throw std::runtime_error("connection to server lost");
      return due;
    };
    p.key = [](const std::string& item) { return item; };
    p.run = [this](const std::string& item) {
      ran.push_back(item);
      auto it = settles.find(item);
      return it == settles.end() || it->second;
    };
    p.run_blocking = [this](std::function<void()> job) { work.push_back(std::move(job)); };
    actor = sys.spawn(actors::work_loop<std::string>,
                      actors::work_loop_options{"test", concurrency, std::chrono::seconds(1)},
                      std::move(p));
    sched.run();
  }

  void run_job(size_t index = 0) { test::run_queued(work, sched, index); }

  ~looping() {
    if (actor) caf::anon_send_exit(actor, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(looping,
                  "an item out is never run twice, and no more than the concurrency "
                  "run at once") {
  due = {"a", "b", "c"};
  start(2);
  REQUIRE(work.size() == 1);  // the first scan
  run_job();
  REQUIRE(work.size() == 2);  // a and b; c waits for a slot

  // The timer's scan lists the same items while both are out: nothing more starts.
  sched.trigger_timeouts();
  sched.run();
  REQUIRE(work.size() == 3);
  run_job(2);
  CHECK(work.size() == 2);

  // a ends settled: c, which the last scan listed, starts without another scan (a is settled
  // and b out, though both are listed too).
  run_job(0);
  REQUIRE(work.size() == 2);  // b and c
  run_job(1);                 // c ends: nothing listed is left, so a scan right away
  REQUIRE(work.size() == 2);  // b, and the scan
  run_job(1);
  CHECK(work.size() == 1);  // it lists a, b and c: settled or out, none starts
  run_job();
  CHECK(ran == std::vector<std::string>{"a", "c", "b"});
}

TEST_CASE_FIXTURE(looping, "ended items are replaced from the last scan; one scan per list") {
  for (int i = 0; i < 8; ++i) due.push_back("item" + std::to_string(i));
  start(2);
  run_job();  // the scan: item0 and item1 start
  // Each ended item is followed by the next listed one, with no scan, until the list is done.
  for (int i = 0; i < 6; ++i) {
    REQUIRE(work.size() == 2);
    run_job(0);
  }
  REQUIRE(work.size() == 2);  // item6 and item7
  due.clear();
  run_job(0);  // item6 ends, nothing listed is left: a scan
  REQUIRE(work.size() == 2);
  run_job(1);  // the scan lists nothing
  run_job();   // item7 ends: a scan
  CHECK(work.size() == 1);
  run_job();
  CHECK(work.empty());
  CHECK(ran.size() == 8);
  CHECK(scans == 3);
}

TEST_CASE_FIXTURE(looping, "an item that ends unsettled runs again on a later scan") {
  due = {"a"};
  settles["a"] = false;
  start(4);
  run_job();                  // scan
  run_job();                  // a, unsettled
  REQUIRE(work.size() == 1);  // the scan after it ended
  run_job();
  REQUIRE(work.size() == 1);  // a again
  settles["a"] = true;
  run_job();
  run_job();  // the scan after: a is settled now
  CHECK(work.empty());
  CHECK(ran == std::vector<std::string>{"a", "a"});
}

TEST_CASE_FIXTURE(looping, "a failed scan is retried on the timer, and scans never overlap") {
  scan_fails = true;
  due = {"a"};
  start(4);
  run_job();
  CHECK(work.empty());  // nothing due from a failed scan; the timer is armed
  scan_fails = false;

  REQUIRE(sched.trigger_timeout());
  sched.run();
  REQUIRE(work.size() == 1);
  // A scan asked for while one is out waits for it, and runs once after.
  caf::anon_send(actor, actors::scan_atom::value, false);
  caf::anon_send(actor, actors::scan_atom::value, false);
  sched.run();
  REQUIRE(work.size() == 1);
  run_job();
  REQUIRE(work.size() == 2);  // a, and the one scan asked for meanwhile
  run_job(1);
  CHECK(work.size() == 1);  // a is out: the scan started nothing
}

TEST_CASE_FIXTURE(looping, "a stop waits for the items out, then ends the loop") {
  due = {"a", "b"};
  start(4);
  run_job();
  REQUIRE(work.size() == 2);
  bool ended = false;
  actor->attach_functor([&] { ended = true; });
  caf::anon_send(actor, actors::stop_atom::value);
  sched.run();
  CHECK_FALSE(ended);
  run_job();
  CHECK_FALSE(ended);
  CHECK(work.size() == 1);  // no scan after an item once stopping
  run_job();
  CHECK(ended);
  sched.trigger_timeouts();
  sched.run();
  CHECK(work.empty());
  actor = nullptr;
}
