// Placement of streams on shards and shards on members (issue #23).
#include <doctest/doctest.h>

#include <set>

#include "domain/cluster.hpp"

using namespace beampipe::domain::cluster;

TEST_CASE("shard_of: stable, in range, and spread") {
  // Fixed values: the function may never change (it would move every stream).
  CHECK(shard_of("", 64) == static_cast<int>(14695981039346656037ULL % 64));
  CHECK(shard_of("source-01a24d67-f167-7365-8875-f848c04f849b", 64) ==
        shard_of("source-01a24d67-f167-7365-8875-f848c04f849b", 64));
  std::vector<int> counts(64, 0);
  for (int i = 0; i < 6400; ++i) {
    int s = shard_of("execution-" + std::to_string(i), 64);
    REQUIRE(s >= 0);
    REQUIRE(s < 64);
    ++counts[s];
  }
  for (int c : counts) CHECK((c > 50 && c < 150));
}

TEST_CASE("fair_share: every shard held once, shares differ by at most one") {
  std::vector<std::string> members = {"c", "a", "b"};
  int total = 0;
  for (const auto& m : members) total += fair_share(members, m, 64);
  CHECK(total == 64);
  CHECK(fair_share(members, "a", 64) == 22);
  CHECK(fair_share(members, "c", 64) == 21);
  CHECK(fair_share(members, "stranger", 64) == 0);
  CHECK(fair_share({"a"}, "a", 64) == 64);
}

TEST_CASE("plan: members converge to an even spread, each shard held once") {
  std::vector<std::string> members = {"a", "b", "c"};
  std::map<int, std::string> owners;
  for (int s = 0; s < 64; ++s) owners[s] = "a";  // a held everything alone
  for (int round = 0; round < 6; ++round)
    for (const auto& m : members) {
      auto mv = plan(m, members, 64, owners);
      for (int s : mv.release) {
        REQUIRE(owners.at(s) == m);
        owners.erase(s);
      }
      for (int s : mv.take) {
        REQUIRE(owners.count(s) == 0);
        owners[s] = m;
      }
    }
  std::map<std::string, int> held;
  for (const auto& [s, m] : owners) ++held[m];
  CHECK(owners.size() == 64);
  CHECK(held["a"] == 22);
  CHECK(held["b"] == 21);
  CHECK(held["c"] == 21);
  // A member leaves: the others take its shards.
  members = {"a", "b"};
  for (auto it = owners.begin(); it != owners.end();)
    it = it->second == "c" ? owners.erase(it) : std::next(it);
  for (const auto& m : members) {
    auto mv = plan(m, members, 64, owners);
    CHECK(mv.release.empty());
    for (int s : mv.take) owners[s] = m;
  }
  CHECK(owners.size() == 64);
}
