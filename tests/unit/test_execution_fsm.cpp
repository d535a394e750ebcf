#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/aggregates.hpp"
#include "domain/execution_fsm.hpp"

using namespace beampipe::domain;
using S = execution_status;

TEST_CASE("ledger transition table (spec 2.2)") {
  // Every (from, to) pair, against the table written out by hand.
  const S all[] = {S::pending,   S::running, S::awaiting_scheduler, S::not_submitted,
                   S::completed, S::failed,  S::retrying,           S::cancelled};
  const char* table[8] = {
      // p r a n c f t x   (pending running awaiting not_submitted completed failed retrying
      // cancelled)
      "11000101",  // pending
      "01111101",  // running
      "01101101",  // awaiting_scheduler
      "01010001",  // not_submitted
      "00001000",  // completed (locked)
      "01000111",  // failed
      "01000111",  // retrying
      "00000001",  // cancelled (locked)
  };
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      INFO(to_string(all[i]) << " -> " << to_string(all[j]));
      CHECK(allows(all[i], all[j]) == (table[i][j] == '1'));
    }
}

TEST_CASE("status names round trip and terminal sets") {
  for (auto s : {S::pending, S::running, S::awaiting_scheduler, S::not_submitted, S::completed,
                 S::failed, S::retrying, S::cancelled})
    CHECK(parse_execution_status(to_string(s)) == s);
  CHECK(!parse_execution_status("done"));
  CHECK(is_terminal(S::not_submitted));
  CHECK(!is_terminal(S::retrying));
  CHECK(is_locked_terminal(S::cancelled));
  CHECK(!is_locked_terminal(S::failed));
}

TEST_CASE("patch semantics: timestamps, retry count, error clearing, phase") {
  ledger_fields f;
  auto run = apply_status_patch(f, {S::running, std::nullopt, false});
  CHECK(run.set_started);
  CHECK(!run.set_completed);
  f = run.after;
  f.execution_phase = "submit";
  auto fail = apply_status_patch(f, {S::failed, std::string("boom"), false});
  CHECK(fail.set_completed);
  CHECK(fail.after.last_error == "boom");
  CHECK(!fail.after.execution_phase);  // terminal without a phase in the patch clears it
  auto retry = apply_status_patch(fail.after, {S::retrying, std::nullopt, false});
  CHECK(retry.after.retry_count == 1);  // [HEAD]: only failed -> retrying counts
  CHECK(!retry.after.last_error);       // failed -> retrying without error clears it
  CHECK(!retry.set_started);            // started_at is set once
  CHECK(!retry.set_completed);          // completed_at is set once
  auto rerun = apply_status_patch(retry.after, {S::running, std::nullopt, false});
  CHECK(rerun.after.retry_count == 1);
  ledger_fields done = rerun.after;
  done.last_error = "stale";
  auto complete = apply_status_patch(done, {S::completed, std::nullopt, false});
  CHECK(!complete.after.last_error);  // [HEAD]: entering completed clears the error
  auto locked = apply_status_patch(complete.after, {S::failed, std::string("late"), false});
  CHECK(locked.after.status == S::completed);  // locked terminal: status stays
  CHECK(!locked.changed);
  CHECK(locked.after.last_error == "late");  // other fields still apply
}

TEST_CASE("source key validation and derived stream ids") {
  std::string m, i;
  CHECK(!parse_source_key({{"project_module", " wallaby "}, {"source_identifier", "J1"}}, m, i));
  CHECK(m == "wallaby");
  auto e = parse_source_key({{"project_module", "w"}, {"source_identifier", "a\nb"}}, m, i);
  REQUIRE(e);
  CHECK(e->field == "source_identifier");
  CHECK(source_uuid("a", "b") == source_uuid("a", "b"));
  CHECK(source_uuid("a", "bc") != source_uuid("ab", "c"));  // the separator keeps pairs apart
  CHECK(source_stream_id(source_uuid("a", "b")).rfind("source-", 0) == 0);
}

TEST_CASE("execution decider refuses what the ledger forbids") {
  const auto& k = execution_aggregate();
  auto st = k.initial();
  command create{"create",
                 {{"project_module", "m"},
                  {"archive_name", "casda"},
                  {"sources", boost::json::array{boost::json::object{{"source_identifier", "s"}}}}},
                 "t"};
  auto d = k.decide(st, "execution-0190", create);
  beampipe::testing::check_decided(d);
  REQUIRE(d.events.size() == 1);
  k.apply(st, d.events[0].type, d.events[0].data, "");
  auto bad = k.decide(st, "execution-0190", {"start", {}, "t"});
  REQUIRE(bad.error);
  CHECK(bad.error->kind == error_kind::conflict);
  CHECK(bad.error->code == "execute_not_requested");
  auto profile = create;
  profile.body["deployment_profile_id"] = "not-a-uuid";
  auto e = k.decide(k.initial(), "execution-0191", profile);
  REQUIRE(e.error);
  CHECK(e.error->field == "deployment_profile_id");
}
