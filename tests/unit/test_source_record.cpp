// The source_registry fold (issue #22: the projection and time travel share it) and the project
// config revisions' fold.
#include <doctest/doctest.h>

#include "domain/config_record.hpp"
#include "domain/source_record.hpp"
#include "events/types.hpp"

namespace json = boost::json;
namespace et = beampipe::events::type;
using namespace beampipe::domain;

namespace {
json::object ident(json::object extra = {}) {
  json::object o{{"uuid", "u1"}, {"project_module", "p"}, {"source_identifier", "S1"}};
  for (auto& kv : extra) o[kv.key()] = kv.value();
  return o;
}
}  // namespace

TEST_CASE("source_record: a source's life, and nothing before its registration") {
  source_record::row r;
  bool exists = false;
  CHECK_FALSE(source_record::evolve(r, exists, et::source_enabled_changed,
                                    ident({{"enabled", true}}), "2026-01-01T00:00:00Z"));
  CHECK_FALSE(exists);
  CHECK(source_record::evolve(r, exists, et::source_registered, ident({{"enabled", false}}),
                              "2026-01-01T00:00:01Z"));
  CHECK(exists);
  CHECK(source_record::discovery_state(r) == "never");
  source_record::evolve(r, exists, et::discovery_requested,
                        ident({{"request_id", "q1"}, {"reason", "manual"}}),
                        "2026-01-01T00:00:02Z");
  CHECK(source_record::discovery_state(r) == "requested");
  CHECK(r.discovery_attempt == 1);
  source_record::evolve(r, exists, et::discovery_completed,
                        ident({{"request_id", "q1"},
                               {"attempt", 1},
                               {"outcome", "changed"},
                               {"signature", "abc"},
                               {"pending", true}}),
                        "2026-01-01T00:00:03Z");
  CHECK(source_record::discovery_state(r) == "checked");
  CHECK(r.workflow_run_pending);
  CHECK(r.workflow_run_pending_at == std::optional<std::string>("2026-01-01T00:00:03Z"));
  source_record::evolve(r, exists, et::source_execution_finished,
                        ident({{"execution_id", "e1"},
                               {"outcome", "failed"},
                               {"pending", true},
                               {"failures_in_row", 2}}),
                        "2026-01-01T00:00:04Z");
  CHECK(r.execution_failures_in_row == 2);
  CHECK(r.workflow_run_pending_at == std::optional<std::string>("2026-01-01T00:00:03Z"));
  source_record::evolve(r, exists, et::source_deleted, ident(), "2026-01-01T00:00:05Z");
  CHECK(r.deleted);
  // Registered again: the creation time and discovery history stay, the failure count goes.
  source_record::evolve(r, exists, et::source_registered, ident({{"enabled", true}}),
                        "2026-01-01T00:00:06Z");
  CHECK_FALSE(r.deleted);
  CHECK(r.created_at == "2026-01-01T00:00:01Z");
  CHECK(r.updated_at == "2026-01-01T00:00:06Z");
  CHECK(r.discovery_signature == std::optional<std::string>("abc"));
  CHECK_FALSE(r.execution_failures_in_row);
  // The row round-trips through its columns.
  auto back = source_record::from_columns(source_record::columns(r));
  CHECK(source_record::columns(back) == source_record::columns(r));
}

TEST_CASE("config_record: the active revision moves with each activation") {
  std::map<std::string, config_record::revision> revs;
  auto upload = [&](const char* id, int v) {
    config_record::evolve(revs, et::project_config_uploaded,
                          {{"uuid", id},
                           {"project_id", "p"},
                           {"version", v},
                           {"spec", json::object{{"v", v}}},
                           {"spec_sha256", "s"},
                           {"warnings", json::array{}}},
                          "2026-01-01T00:00:00Z");
  };
  auto activate = [&](const char* id, json::value prev) {
    config_record::evolve(revs, et::project_config_activated,
                          {{"uuid", id},
                           {"project_id", "p"},
                           {"version", 0},
                           {"spec_sha256", "s"},
                           {"spec", json::object{}},
                           {"previous_uuid", prev}},
                          "2026-01-01T00:00:01Z");
  };
  upload("a", 1);
  CHECK(config_record::active(revs) == nullptr);
  activate("a", nullptr);
  REQUIRE(config_record::active(revs) != nullptr);
  CHECK(config_record::active(revs)->version == 1);
  upload("b", 2);
  CHECK(config_record::active(revs)->uuid == "a");
  activate("b", "a");
  CHECK(config_record::active(revs)->uuid == "b");
  CHECK_FALSE(revs.at("a").active);
}
