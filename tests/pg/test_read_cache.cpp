// The read cache answers what the read model holds: a hit only while its projections' group
// has committed nothing and moved no checkpoint since the answer was read. (No database: the
// watch is driven by hand as a runner drives it.)
#include <doctest/doctest.h>

#include "api/read_cache.hpp"

using namespace beampipe;

namespace {

struct cached {
  projections::projection_watch watch;
  int loads = 0;
  int value = 1;
  std::optional<api::read_cache<int>> cache;
  cached() {
    watch.add_group("executions", {"ledger", "details"});
    watch.add_group("users", {"users"});
    cache.emplace(watch, std::vector<std::string>{"ledger"});
  }
  int get(const std::string& key = "a") {
    return *cache->get(key, [&] {
      ++loads;
      return value;
    });
  }
  std::vector<projections::checkpoint> at(int64_t position) {
    return {{"ledger", {1, position}}, {"details", {1, position}}};
  }
};

}  // namespace

TEST_CASE_FIXTURE(cached, "a cached answer is served until its read model's group moves") {
  CHECK(get() == 1);
  CHECK(get() == 1);
  CHECK(loads == 1);
  CHECK(get("b") == 1);
  CHECK(loads == 2);  // per key

  // A batch of the group is about to commit: whatever was read may be outdated.
  value = 2;
  watch.committing("executions", {{"ledger", {1, 5}}});
  CHECK(get() == 2);
  CHECK(loads == 3);

  // Its checkpoints published: an answer read between the commit and now is read again.
  value = 3;
  watch.publish("executions", at(5), 5, true);
  CHECK(get() == 3);
  CHECK(loads == 4);

  // Publishing the same checkpoints (a runner that found nothing new) keeps the cache.
  watch.publish("executions", at(5), 5, false);
  CHECK(get() == 3);
  CHECK(loads == 4);

  // Checkpoints moved by another process's runner (nothing applied here) do not.
  value = 4;
  watch.publish("executions", at(7), 7, false);
  CHECK(get() == 4);
  CHECK(loads == 5);

  // Another group's progress leaves it alone.
  watch.committing("users", {{"users", {1, 9}}});
  watch.publish("users", {{"users", {1, 9}}}, 9, true);
  CHECK(get() == 4);
  CHECK(loads == 5);
}

TEST_CASE_FIXTURE(cached, "an answer loaded while a batch commits is not served after it") {
  // The load runs across the commit: it is tagged with the generation read before it.
  CHECK(*cache->get("a", [&] {
    ++loads;
    watch.committing("executions", {{"ledger", {1, 5}}});
    return 1;
  }) == 1);
  value = 2;
  CHECK(get() == 2);
  CHECK(loads == 2);
}
