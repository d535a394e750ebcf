// The source aggregate's discovery request as a durable job (§2.4 [HEAD]): answers are fenced
// by request id and attempt, retryable failures schedule the next attempt until the round's
// attempts are used up (dead letter), and an operator's requeue reopens the same request.
#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/admission.hpp"
#include "domain/aggregates.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {

struct source_harness {
  const aggregate_kind& k = source_aggregate();
  json::object state = k.initial();
  std::string stream = source_stream_id(source_uuid("m", "S1"));
  std::vector<std::string> types;
  json::object last;

  std::string run(const std::string& name, json::object body = {}) {
    auto d = k.decide(state, stream, {name, std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    types.clear();
    for (auto& e : d.events) {
      k.apply(state, e.type, e.data, "2026-11-01T00:00:00.000000Z");
      types.push_back(e.type);
      last = e.data;
    }
    return d.error ? d.error->code : "";
  }
  json::object attempt_failed(int attempt, int max_attempts = 3) {
    return {{"request_id", "r1"},
            {"attempt", attempt},
            {"error", "connection refused"},
            {"retry_at", "2026-11-01T00:00:15Z"},
            {"max_attempts", max_attempts}};
  }
};

source_harness registered_with_request() {
  source_harness h;
  REQUIRE(h.run("register",
                {{"project_module", "m"}, {"source_identifier", "S1"}, {"enabled", true}}) == "");
  REQUIRE(h.run("request_discovery", {{"request_id", "r1"}}) == "");
  return h;
}

}  // namespace

TEST_CASE("answers carry the current attempt; a stale attempt or request is refused") {
  auto h = registered_with_request();
  CHECK(h.run("complete_discovery",
              {{"request_id", "r1"}, {"attempt", 2}, {"outcome", "unchanged"}}) ==
        "stale_discovery");
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(1)) == "");
  CHECK(h.types == std::vector<std::string>{"DiscoveryAttemptFailed"});
  CHECK(h.last.at("retry_at") == "2026-11-01T00:00:15Z");
  // The worker that ran attempt 1 (its lease taken over) can no longer answer.
  CHECK(h.run("complete_discovery",
              {{"request_id", "r1"}, {"attempt", 1}, {"outcome", "unchanged"}}) ==
        "stale_discovery");
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(1)) == "stale_discovery");
  // An attempt failure must name its attempt.
  auto no_attempt = h.attempt_failed(2);
  no_attempt.erase("attempt");
  CHECK(h.run("fail_discovery_attempt", no_attempt) == "stale_discovery");
  CHECK(h.run("complete_discovery",
              {{"request_id", "r1"}, {"attempt", 2}, {"outcome", "unchanged"}}) == "");
  CHECK(h.types == std::vector<std::string>{"DiscoveryCompleted"});
  CHECK(h.run("complete_discovery",
              {{"request_id", "r1"}, {"attempt", 2}, {"outcome", "unchanged"}}) ==
        "stale_discovery");
}

TEST_CASE("the last attempt of a round dead-letters; a requeue starts a new round") {
  auto h = registered_with_request();
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(1)) == "");
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(2)) == "");
  CHECK(h.types == std::vector<std::string>{"DiscoveryAttemptFailed"});
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(3)) == "");
  REQUIRE(h.types == std::vector<std::string>{"DiscoveryFailed"});
  CHECK(h.last.at("dead_letter") == true);
  CHECK(h.last.at("attempt") == 3);
  // Closed: the source may be asked again, and the dead-lettered request can be requeued.
  CHECK(h.run("requeue_discovery", {{"request_id", "other"}}) == "not_requeueable");
  CHECK(h.run("requeue_discovery", {{"request_id", "r1"}, {"reason", "archive back"}}) == "");
  REQUIRE(h.types == std::vector<std::string>{"DiscoveryRequeued"});
  CHECK(h.last.at("attempt") == 4);
  CHECK(h.run("requeue_discovery", {{"request_id", "r1"}}) == "not_requeueable");  // open again
  // The new round has its own three attempts.
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(4)) == "");
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(5)) == "");
  CHECK(h.types == std::vector<std::string>{"DiscoveryAttemptFailed"});
  CHECK(h.run("fail_discovery_attempt", h.attempt_failed(6)) == "");
  CHECK(h.types == std::vector<std::string>{"DiscoveryFailed"});
}

TEST_CASE(
    "requeue is refused while a newer request is open, for a completed one, or when disabled") {
  auto h = registered_with_request();
  CHECK(h.run("fail_discovery", {{"request_id", "r1"}, {"attempt", 1}, {"error", "401"}}) == "");
  CHECK(h.last.at("dead_letter") == false);
  REQUIRE(h.run("request_discovery", {{"request_id", "r2"}}) == "");
  CHECK(h.run("requeue_discovery", {{"request_id", "r1"}}) == "not_requeueable");
  CHECK(h.run("complete_discovery", {{"request_id", "r2"}, {"outcome", "unchanged"}}) == "");
  CHECK(h.run("requeue_discovery", {{"request_id", "r2"}}) == "not_requeueable");

  auto d = registered_with_request();
  CHECK(d.run("fail_discovery", {{"request_id", "r1"}, {"error", "401"}}) == "");
  CHECK(d.run("update", {{"enabled", false}}) == "");
  CHECK(d.run("requeue_discovery", {{"request_id", "r1"}}) == "source_disabled");
}

TEST_CASE("retry delay: the spec's backoff at the 15 s base, scaled for other bases") {
  const std::string job = "00000000-0000-0000-0000-000000000000";  // jitter 0
  CHECK(job_retry_delay_ms(1, job, 15000) == 15000);
  CHECK(job_retry_delay_ms(2, job, 15000) == 30000);
  CHECK(job_retry_delay_ms(9, job, 15000) == 3600000);  // capped
  CHECK(job_retry_delay_ms(2, job, 150) == 300);
  CHECK(job_retry_delay_ms(3, "not-a-uuid", 15000) == 60000);
  auto jittered = job_retry_delay_ms(1, "0190f0a0-0000-7000-8000-00000000000a", 15000);
  CHECK(jittered == (15 + *uuid_mod_11("0190f0a0-0000-7000-8000-00000000000a")) * 1000);
}

TEST_CASE("a changed discovery on a ready source is pending until automation clears it") {
  auto h = registered_with_request();
  REQUIRE(h.run("complete_discovery", {{"request_id", "r1"},
                                       {"attempt", 1},
                                       {"outcome", "changed"},
                                       {"signature", "s1"},
                                       {"datasets", 2},
                                       {"truncated", false},
                                       {"ready", true}}) == "");
  CHECK(h.last.at("pending") == true);
  CHECK(h.run("clear_pending", {{"reason", "admitted"}, {"execution_id", "e1"}}) == "");
  CHECK(h.types == std::vector<std::string>{"SourcePendingCleared"});
  CHECK(h.last.at("execution_id") == "e1");
  CHECK(h.run("clear_pending", {{"reason", "admitted"}}) == "");
  CHECK(h.types.empty());  // nothing pending any more: nothing recorded
}
