#pragma once
// Blocking work that actors under test hand off (their run_blocking port), queued instead of
// run: a test runs each job when it chooses, then the messages that job caused.
#include <doctest/doctest.h>

#include <caf/all.hpp>
#include <deque>
#include <functional>

namespace beampipe::test {

using queued_jobs = std::deque<std::function<void()>>;

// Runs the job at `index` (oldest first), then every message it caused.
inline void run_queued(queued_jobs& jobs, caf::scheduler::test_coordinator& sched,
                       size_t index = 0) {
  REQUIRE(index < jobs.size());
  auto job = std::move(jobs[index]);
  jobs.erase(jobs.begin() + static_cast<std::ptrdiff_t>(index));
  job();
  sched.run();
}

}  // namespace beampipe::test
