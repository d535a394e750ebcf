#pragma once
// Tamper-evident history (issue #22). Each event's hash chains it to the previous event of its
// stream: SHA-256(previous hash || canonical bytes), the first event's previous hash being 32
// zero bytes. The canonical bytes are a fixed tag, then each of event id, stream id, stream
// version, event type, schema version, recorded_at (microseconds since the epoch), data and
// metadata (the stored JSON text, byte for byte) as an 8-byte big-endian length and the bytes.
// Checkpoints chain digests over the whole history in read order (schema/0020_event_chain.sql)
// and keep a fingerprint of their range (schema/0021) to name what changed when one fails.
// Verification walks both and names every event that was altered, removed, reordered or
// inserted.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/envelope.hpp"
#include "store/db.hpp"

namespace beampipe::store {

// What an event's hash covers.
struct chained_fields {
  std::string_view event_id, stream_id, event_type, data, metadata;
  int64_t stream_version = 0;
  int schema_version = 1;
  int64_t recorded_us = 0;  // recorded_at, microseconds since the epoch
};
// The 32-byte hash of an event after `previous` (32 bytes; empty: the stream's first event).
std::string event_hash(std::string_view previous, const chained_fields& e);

// Chains every event whose hash is still missing (rows from before the chain, imported ones),
// stream by stream in version order from its last chained event; an unchained event followed
// by a chained one is left for verify to report. Answers how many it chained.
int64_t chain_unhashed(pqxx::transaction_base& tx);

// The stored hashes (hex) of these events, by position; events not yet chained are left out.
std::map<int64_t, std::string> event_hashes(pqxx::connection& c,
                                            const std::vector<events::recorded_event>& batch);
// The same for positions, in the caller's transaction.
std::map<int64_t, std::string> event_hashes(pqxx::transaction_base& tx,
                                            const std::vector<int64_t>& positions);

struct checkpoint {
  int64_t seq = 0;
  std::string below_tx;  // every transaction below this id had finished
  int64_t events = 0;    // events in this checkpoint's range
  int64_t last_position = 0;
  std::string digest_hex;
  std::string taken_at;
  // "SEQ:DIGEST": what to keep outside the database, and give to verify --against.
  std::string reference() const { return std::to_string(seq) + ":" + digest_hex; }
};
// Records a checkpoint over the finished transactions not yet covered (none when nothing new
// finished: the latest is answered). Throws when an event in range is not chained.
std::optional<checkpoint> take_checkpoint(pqxx::connection& c);
std::optional<checkpoint> latest_checkpoint(pqxx::connection& c);

struct audit_problem {
  int64_t position = 0;  // 0: the problem is not one event's (a stream's head, a checkpoint)
  std::string stream_id;
  int64_t stream_version = 0;
  std::string what;
};
struct audit_report {
  int64_t events = 0, streams = 0, checkpoints = 0;
  std::vector<audit_problem> problems;  // by position, at most 1000
  bool truncated = false;
  std::optional<checkpoint> latest;
  bool ok() const { return problems.empty(); }
};
// Walks every stream's chain and every checkpoint. With `against` ("SEQ:DIGEST" as
// checkpoint::reference gave it), the history up to that checkpoint must also recompute to that
// digest; a reference that names no stored checkpoint is itself a problem.
audit_report verify_history(pqxx::connection& c,
                            const std::optional<std::string>& against = std::nullopt);

}  // namespace beampipe::store
