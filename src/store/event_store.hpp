#pragma once
// The PostgreSQL event store: optimistic appends with per-stream expected versions, grouped
// into one transaction per batch (group commit), idempotent on event ids; ordered global
// reads fenced by transaction id so a late commit is never skipped.
#include <optional>
#include <string>
#include <vector>

#include "events/envelope.hpp"
#include "store/db.hpp"

namespace beampipe::store {

struct expected_version {
  enum kind_t { any, no_stream, exact } kind = any;
  int64_t version = 0;
  static expected_version any_version() { return {any, 0}; }
  static expected_version none() { return {no_stream, 0}; }
  static expected_version at(int64_t v) { return v == 0 ? none() : expected_version{exact, v}; }
  std::string describe() const;
};

// A clustered node's claim to write a stream (issue #23): the stream's shard, the node and the
// lease token it holds. The store refuses the append unless that lease is still current.
struct shard_fence {
  int shard = 0;
  std::string owner;
  int64_t token = 0;
};

struct append_request {
  std::string stream_id;  // "<type>-<key>"
  expected_version expected;
  std::vector<events::new_event> events;
  std::optional<shard_fence> fence = std::nullopt;  // none: a single node, or a tool
};

enum class append_status { ok, conflict, error };

struct append_result {
  append_status status = append_status::error;
  int64_t first_version = 0;  // stream versions written (or found, on an idempotent retry)
  int64_t last_version = 0;
  int64_t last_position = 0;    // global position of the last event
  int64_t actual_version = -1;  // on conflict: the stream's version (-1: absent)
  bool idempotent_replay = false;
  std::string message;
  store_errc error_code = store_errc::internal;
};

// Appends every request in one transaction. Each stream's expected version is checked on
// its own: a conflicting request fails alone and the others commit. If the transaction
// itself fails, every request gets that error (callers may retry: event ids make it safe).
std::vector<append_result> append_batch(pqxx::connection& c,
                                        const std::vector<append_request>& reqs);
append_result append(pqxx::connection& c, const append_request& req);

std::vector<events::recorded_event> read_stream(pqxx::connection& c, const std::string& stream_id,
                                                int64_t from_version = 1,
                                                int64_t limit = 1'000'000);

// Events after `after` in (tx_id, position) order, only from transactions older than every
// transaction still running, so nothing can later appear before the last returned event.
std::vector<events::recorded_event> read_all(pqxx::transaction_base& tx,
                                             events::read_position after, int64_t limit);
std::vector<events::recorded_event> read_all(pqxx::connection& c, events::read_position after,
                                             int64_t limit);
// read_all, with the payload (data and metadata left empty) only of events whose type is not in
// `no_payload`: a reader that takes no event of those types needs only their positions. (A
// projection group skips most of the log; converting and sending those payloads was most of
// what its reads cost PostgreSQL.)
std::vector<events::recorded_event> read_all(pqxx::transaction_base& tx,
                                             events::read_position after, int64_t limit,
                                             const std::vector<std::string>& no_payload);

// The last event the read fence lets through now, in read order ({0, 0} when none): reading
// after it later yields exactly the events committed from then on, late commits included.
events::read_position fenced_tail(pqxx::transaction_base& tx);
// Highest global position committed so far (0 when empty).
int64_t head_position(pqxx::connection& c);
// (tx_id, position) of a given global position, if that event exists.
std::optional<events::read_position> read_position_of(pqxx::connection& c, int64_t position);

struct snapshot {
  std::string stream_id;
  int64_t version = 0;
  int schema_version = 1;
  std::string state;  // JSON text
};
void save_snapshot(pqxx::connection& c, const snapshot& s);
std::optional<snapshot> load_snapshot(pqxx::connection& c, const std::string& stream_id);

inline constexpr const char* kNotifyChannel = "beampipe_events";

}  // namespace beampipe::store
