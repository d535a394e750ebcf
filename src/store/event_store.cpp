#include "store/event_store.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "events/validity.hpp"
#include "store/db.hpp"
#include "store/event_chain.hpp"
#include "util/hash.hpp"
#include "util/json.hpp"

namespace beampipe::store {

std::string expected_version::describe() const {
  switch (kind) {
    case any:
      return "any";
    case no_stream:
      return "no stream";
    case exact:
      return "version " + std::to_string(version);
  }
  return "?";
}

namespace {

// An event row: what identifies it, its payload (data, metadata), when it was recorded.
#define BEAMPIPE_EVENT_COLUMNS(data, metadata)                                                  \
  "position, tx_id::text, event_id::text, stream_id, stream_type, stream_version, event_type, " \
  "schema_version, " data ", " metadata                                                         \
  ", "                                                                                          \
  "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
constexpr const char* kEventColumns = BEAMPIPE_EVENT_COLUMNS("data::text", "metadata::text");

events::recorded_event row_to_event(const pqxx::row& r) {
  events::recorded_event e;
  e.position = r[0].as<int64_t>();
  e.tx_id = std::stoll(r[1].as<std::string>());
  e.event_id = r[2].as<std::string>();
  e.stream_id = r[3].as<std::string>();
  e.stream_type = r[4].as<std::string>();
  e.stream_version = r[5].as<int64_t>();
  e.type = r[6].as<std::string>();
  e.schema_version = r[7].as<int>();
  e.data = r[8].as<std::string>();
  e.metadata = r[9].as<std::string>();
  e.recorded_at = r[10].as<std::string>();
  return e;
}

std::vector<events::recorded_event> events_of(const pqxx::result& r) {
  std::vector<events::recorded_event> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(row_to_event(row));
  return out;
}

const std::string kNoMetadata = "{}";

// Thrown inside a batch attempt when the whole transaction must be retried (a concurrent
// writer created a stream first, a deadlock, a concurrent duplicate event id).
struct retry_batch {};

bool valid_stream_id(const std::string& s) {
  auto dash = s.find('-');
  return !s.empty() && s.size() <= 200 && dash != std::string::npos && dash > 0 &&
         dash + 1 < s.size();
}

std::vector<append_result> attempt_batch(pqxx::connection& c,
                                         const std::vector<append_request>& reqs,
                                         std::vector<append_result>& results,
                                         const std::vector<bool>& done_before) {
  pqxx::work tx{c};
  std::vector<bool> done = done_before;

  // 1. Idempotent retries: event ids that already exist.
  std::vector<std::string> ids;
  for (size_t i = 0; i < reqs.size(); ++i)
    if (!done[i])
      for (const auto& e : reqs[i].events) ids.push_back(e.event_id);
  struct existing {
    std::string stream_id, type, data;
    int64_t version, position;
  };
  std::unordered_map<std::string, existing> found;
  // The append's statements are prepared on each connection (exec_prepared_once): every
  // command runs them, and planning them each time was a large share of PostgreSQL's work.
  // The transaction's time, which recorded_at defaults to, as the chain hashes it (one row
  // even when no id is found).
  int64_t now_us = 0;
  if (!ids.empty()) {
    // Not prepared: the generic plan of this lookup scans the events (6 ms a call, not 0.1).
    auto r = tx.exec_params(
        "SELECT t.now_us, e.event_id::text, e.stream_id, e.event_type, e.data::text, "
        "e.stream_version, e.position FROM (SELECT (extract(epoch FROM now()) * 1000000)::bigint "
        "AS now_us) t LEFT JOIN events e ON e.event_id = ANY($1::uuid[])",
        pg_text_array(ids));
    for (const auto& row : r) {
      now_us = row[0].as<int64_t>();
      if (row[1].is_null()) continue;
      found.emplace(row[1].as<std::string>(),
                    existing{row[2].as<std::string>(), row[3].as<std::string>(),
                             row[4].as<std::string>(), row[5].as<int64_t>(), row[6].as<int64_t>()});
    }
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (done[i]) continue;
    size_t hits = 0;
    bool same = true;
    int64_t prev_version = 0;
    append_result replay;
    for (const auto& e : reqs[i].events) {
      auto it = found.find(e.event_id);
      if (it == found.end()) {
        same = false;
        continue;
      }
      ++hits;
      const auto& x = it->second;
      if (x.stream_id != reqs[i].stream_id || x.type != e.type || x.data != e.data ||
          (prev_version && x.version != prev_version + 1))
        same = false;
      if (!replay.first_version) replay.first_version = x.version;
      replay.last_version = x.version;
      replay.last_position = std::max(replay.last_position, x.position);
      prev_version = x.version;
    }
    if (hits == 0) continue;
    done[i] = true;
    if (same && hits == reqs[i].events.size()) {
      replay.status = append_status::ok;
      replay.idempotent_replay = true;
      results[i] = replay;
    } else {
      results[i].status = append_status::conflict;
      results[i].error_code = store_errc::conflict;
      results[i].message =
          "event id already used with different content in stream " + reqs[i].stream_id;
    }
  }

  // 1b. Fencing (issue #23): a request carrying a shard lease goes on only while that lease is
  //     current. FOR SHARE holds the lease rows until this transaction ends, so a node taking
  //     a shard over waits for the appends already checked and every later one sees its token.
  std::set<int> fenced_shards;
  for (size_t i = 0; i < reqs.size(); ++i)
    if (!done[i] && reqs[i].fence) fenced_shards.insert(reqs[i].fence->shard);
  if (!fenced_shards.empty()) {
    auto r = tx.exec_params(
        "SELECT shard, owner, token, expires_at > clock_timestamp() FROM shard_leases "
        "WHERE shard = ANY($1::int[]) ORDER BY shard FOR SHARE",
        pg_int_array(fenced_shards));
    std::map<int, std::tuple<std::string, int64_t, bool>> leases;
    for (const auto& row : r)
      leases[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<int64_t>(),
                                  row[3].as<bool>()};
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (done[i] || !reqs[i].fence) continue;
      const auto& f = *reqs[i].fence;
      auto it = leases.find(f.shard);
      bool current = it != leases.end() && std::get<0>(it->second) == f.owner &&
                     std::get<1>(it->second) == f.token && std::get<2>(it->second);
      if (current) continue;
      done[i] = true;
      results[i].status = append_status::error;
      results[i].error_code = store_errc::fenced;
      results[i].message = "shard " + std::to_string(f.shard) + " of " + reqs[i].stream_id +
                           " is no longer held by " + f.owner + " with token " +
                           std::to_string(f.token);
    }
  }

  // 2. Lock the existing streams, in a fixed order so concurrent batches cannot deadlock.
  std::set<std::string> stream_set;
  for (size_t i = 0; i < reqs.size(); ++i)
    if (!done[i]) stream_set.insert(reqs[i].stream_id);
  std::map<std::string, int64_t> current;  // absent: stream does not exist
  // Each stream's chain head (raw hash); nullopt for a stream not chained yet (rows older than
  // the chain or just imported: chain_unhashed chains them, and these after them).
  std::map<std::string, std::optional<std::string>> heads;
  if (!stream_set.empty()) {
    auto r = exec_prepared_once(tx, "store_append_lock_streams",
                                "SELECT stream_id, version, encode(head_hash, 'hex') FROM streams "
                                "WHERE stream_id = ANY($1::text[]) "
                                "ORDER BY stream_id FOR UPDATE",
                                pg_text_array({stream_set.begin(), stream_set.end()}));
    for (const auto& row : r) {
      current[row[0].as<std::string>()] = row[1].as<int64_t>();
      heads[row[0].as<std::string>()] =
          row[2].is_null() ? std::nullopt : std::optional(util::from_hex(row[2].as<std::string>()));
    }
  }
  std::set<std::string> existed;
  for (auto& [s, v] : current) existed.insert(s);

  // 3. Decide each request against the (locked) current version, in batch order.
  std::string events_json = "[";
  size_t ord = 0;
  std::vector<size_t> accepted;
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (done[i]) continue;
    const auto& rq = reqs[i];
    auto it = current.find(rq.stream_id);
    int64_t cur = it == current.end() ? 0 : it->second;
    bool exists = it != current.end();
    bool ok = rq.expected.kind == expected_version::any ||
              (rq.expected.kind == expected_version::no_stream && !exists) ||
              (rq.expected.kind == expected_version::exact && exists && cur == rq.expected.version);
    if (!ok) {
      done[i] = true;
      results[i].status = append_status::conflict;
      results[i].error_code = store_errc::conflict;
      results[i].actual_version = exists ? cur : -1;
      results[i].message = "stream " + rq.stream_id + " expected " + rq.expected.describe() +
                           " but is at " +
                           (exists ? "version " + std::to_string(cur) : "no stream");
      continue;
    }
    results[i].first_version = cur + 1;
    auto& head = heads.try_emplace(rq.stream_id, std::string()).first->second;  // new: genesis
    for (const auto& e : rq.events) {
      ++cur;
      boost::json::object o;
      o["ord"] = ord++;
      o["event_id"] = e.event_id;
      o["stream_id"] = rq.stream_id;
      o["stream_type"] = events::stream_type_of(rq.stream_id);
      o["stream_version"] = cur;
      o["event_type"] = e.type;
      o["schema_version"] = e.schema_version;
      o["data"] = e.data;  // passed as text and cast, so the stored bytes are exactly these
      const std::string& metadata = e.metadata.empty() ? kNoMetadata : e.metadata;
      o["metadata"] = metadata;
      if (head) {
        head = event_hash(*head, {e.event_id, rq.stream_id, e.type, e.data, metadata, cur,
                                  e.schema_version, now_us});
        o["hash"] = util::to_hex(*head);
      } else {
        o["hash"] = nullptr;
      }
      if (events_json.size() > 1) events_json.push_back(',');
      events_json += boost::json::serialize(o);
    }
    results[i].last_version = cur;
    current[rq.stream_id] = cur;
    accepted.push_back(i);
  }
  events_json.push_back(']');
  if (accepted.empty()) {
    tx.commit();
    return results;
  }

  // 4. Create new streams; losing a creation race to a concurrent writer retries the batch,
  //    which then sees (and locks) the stream like any existing one.
  boost::json::array new_streams, bumped;
  std::vector<std::string> bumped_ids;
  for (auto& [s, v] : current) {
    boost::json::object o;
    o["stream_id"] = s;
    o["stream_type"] = events::stream_type_of(s);
    o["version"] = v;
    const auto& head = heads[s];
    o["head_hash"] = head ? boost::json::value(util::to_hex(*head)) : boost::json::value(nullptr);
    if (existed.count(s)) {
      bumped.push_back(std::move(o));
      bumped_ids.push_back(s);
    } else {
      new_streams.push_back(std::move(o));
    }
  }
  if (!new_streams.empty()) {
    auto r = exec_prepared_once(
        tx, "store_append_new_streams",
        "INSERT INTO streams (stream_id, stream_type, version, head_hash) "
        "SELECT x.stream_id, x.stream_type, x.version, decode(x.head_hash, 'hex') "
        "FROM json_to_recordset($1::json) "
        "AS x(stream_id text, stream_type text, version bigint, head_hash text) "
        "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id",
        boost::json::serialize(new_streams));
    if (r.size() != new_streams.size()) throw retry_batch{};
  }
  if (!bumped.empty()) {
    // The ANY() list lets the planner find the rows by primary key: joined with the record
    // set alone, it scans the whole streams table on every append.
    exec_prepared_once(
        tx, "store_append_bump_streams",
        "UPDATE streams s SET version = x.version, updated_at = now(), "
        "head_hash = decode(x.head_hash, 'hex') "
        "FROM json_to_recordset($1::json) AS x(stream_id text, version bigint, head_hash text) "
        "WHERE s.stream_id = x.stream_id AND s.stream_id = ANY($2::text[])",
        boost::json::serialize(bumped), pg_text_array(bumped_ids));
  }

  // 5. One set-based insert of every accepted event.
  std::unordered_map<std::string, int64_t> positions;
  try {
    auto r = exec_prepared_once(
        tx, "store_append_events",
        "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, "
        "schema_version, data, metadata, hash) "
        "SELECT x.event_id, x.stream_id, x.stream_type, x.stream_version, x.event_type, "
        "x.schema_version, x.data::json, x.metadata::json, decode(x.hash, 'hex') "
        "FROM json_to_recordset($1::json) AS x(ord int, event_id uuid, stream_id text, "
        "stream_type text, stream_version bigint, event_type text, schema_version int, data text, "
        "metadata text, hash text) ORDER BY x.ord RETURNING event_id::text, position",
        events_json);
    for (const auto& row : r) positions[row[0].as<std::string>()] = row[1].as<int64_t>();
  } catch (const pqxx::unique_violation&) {
    // A concurrent writer appended one of these event ids (an idempotent retry racing the
    // original). Retrying finds it in step 1.
    throw retry_batch{};
  }
  int64_t max_pos = 0;
  for (size_t i : accepted) {
    results[i].status = append_status::ok;
    for (const auto& e : reqs[i].events)
      results[i].last_position = std::max(results[i].last_position, positions[e.event_id]);
    max_pos = std::max(max_pos, results[i].last_position);
  }
  // Wakes projectors and other nodes; delivered on commit, once per batch.
  exec_prepared_once(tx, "store_append_notify", "SELECT pg_notify($1, $2)", kNotifyChannel,
                     std::to_string(max_pos));
  tx.commit();
  return results;
}

}  // namespace

std::vector<append_result> append_batch(pqxx::connection& c,
                                        const std::vector<append_request>& reqs) {
  std::vector<append_result> results(reqs.size());
  std::vector<bool> done(reqs.size(), false);
  for (size_t i = 0; i < reqs.size(); ++i) {
    std::string why;
    if (!valid_stream_id(reqs[i].stream_id))
      why = "invalid stream id '" + reqs[i].stream_id + "'";
    else if (reqs[i].events.empty())
      why = "append needs at least one event";
    else
      for (const auto& e : reqs[i].events) {
        if (e.event_id.empty() || e.type.empty()) why = "event needs an id and a type";
        // The readers' definition (events/validity.hpp): what they cannot read is refused
        // here, alone, before the batch's transaction.
        else if (auto p = events::storage_problem(e.data))
          why = "event " + e.type + " data " + *p;
        else if (auto m = events::storage_problem(e.metadata.empty() ? "{}" : e.metadata,
                                                  events::kMaxMetadataBytes))
          why = "event " + e.type + " metadata " + *m;
        if (!why.empty()) break;
      }
    if (!why.empty()) {
      done[i] = true;
      results[i].status = append_status::error;
      results[i].error_code = store_errc::invalid;
      results[i].message = why;
    }
  }
  for (int attempt = 0;; ++attempt) {
    auto attempt_results = results;
    try {
      return attempt_batch(c, reqs, attempt_results, done);
    } catch (const retry_batch&) {
      if (attempt < 8) continue;
      for (size_t i = 0; i < reqs.size(); ++i)
        if (!done[i])
          results[i] = {
              append_status::error,   0, 0, 0, -1, false, "append kept racing concurrent writers",
              store_errc::unavailable};
      return results;
    } catch (const pqxx::deadlock_detected&) {
      if (attempt < 8) continue;
      throw store_error(store_errc::unavailable, "append deadlocked repeatedly");
    } catch (const pqxx::serialization_failure&) {
      if (attempt < 8) continue;
      throw store_error(store_errc::unavailable, "append serialization failures");
    } catch (const pqxx::in_doubt_error& e) {
      for (size_t i = 0; i < reqs.size(); ++i)
        if (!done[i])
          results[i] = {append_status::error,
                        0,
                        0,
                        0,
                        -1,
                        false,
                        std::string("commit outcome unknown: ") + e.what(),
                        store_errc::commit_unknown};
      return results;
    } catch (const pqxx::broken_connection& e) {
      throw store_error(store_errc::unavailable,
                        std::string("database connection lost: ") + e.what());
    }
  }
}

append_result append(pqxx::connection& c, const append_request& req) {
  return append_batch(c, {req}).front();
}

std::vector<events::recorded_event> read_stream(pqxx::connection& c, const std::string& stream_id,
                                                int64_t from_version, int64_t limit) {
  pqxx::nontransaction tx{c};  // one statement: no BEGIN/ROLLBACK round trips
  auto r = exec_prepared_once(tx, "store_read_stream",
                              std::string("SELECT ") + kEventColumns +
                                  " FROM events WHERE stream_id = $1 AND stream_version >= $2 "
                                  "ORDER BY stream_version LIMIT $3",
                              stream_id, from_version, limit);
  return events_of(r);
}

// Qualified: the select list names its text copy of tx_id "tx_id" too, and an unqualified
// ORDER BY would sort that text ("10000" before "9998") instead of the xid8 column.
constexpr const char* kReadAllWhere =
    " FROM events WHERE (tx_id, position) > ($1::text::xid8, $2) "
    "AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "ORDER BY events.tx_id, events.position LIMIT $3";

std::vector<events::recorded_event> read_all(pqxx::transaction_base& tx,
                                             events::read_position after, int64_t limit) {
  // Prepared: every projection runner reads this after every commit; planning it each time
  // was a third of PostgreSQL's planning under load.
  static const std::string sql = std::string("SELECT ") + kEventColumns + kReadAllWhere;
  auto r = exec_prepared_once(tx, "store_read_all", sql, std::to_string(after.tx_id),
                              after.position, limit);
  return events_of(r);
}

std::vector<events::recorded_event> read_all(pqxx::transaction_base& tx,
                                             events::read_position after, int64_t limit,
                                             const std::vector<std::string>& no_payload) {
  if (no_payload.empty()) return read_all(tx, after, limit);
  static const std::string sql =
      std::string("SELECT ") +
      BEAMPIPE_EVENT_COLUMNS("CASE WHEN event_type = ANY($4::text[]) THEN '' ELSE data::text END",
                             "CASE WHEN event_type = ANY($4::text[]) THEN '' ELSE "
                             "metadata::text END") +
      kReadAllWhere;
  auto r = exec_prepared_once(tx, "store_read_all_sparse", sql, std::to_string(after.tx_id),
                              after.position, limit, pg_text_array(no_payload));
  return events_of(r);
}

std::vector<events::recorded_event> read_all(pqxx::connection& c, events::read_position after,
                                             int64_t limit) {
  pqxx::read_transaction tx{c};
  return read_all(tx, after, limit);
}

events::read_position fenced_tail(pqxx::transaction_base& tx) {
  auto r = tx.exec(
      "SELECT tx_id::text, position FROM events WHERE tx_id < "
      "pg_snapshot_xmin(pg_current_snapshot()) ORDER BY events.tx_id DESC, events.position DESC "
      "LIMIT 1");
  if (r.empty()) return {};
  return {std::stoll(r[0][0].as<std::string>()), r[0][1].as<int64_t>()};
}

int64_t head_position(pqxx::connection& c) {
  pqxx::nontransaction tx{c};  // one statement: no BEGIN/ROLLBACK round trips
  return tx.exec("SELECT coalesce(max(position), 0) FROM events")[0][0].as<int64_t>();
}

std::optional<events::read_position> read_position_of(pqxx::connection& c, int64_t position) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params("SELECT tx_id::text FROM events WHERE position = $1", position);
  if (r.empty()) return std::nullopt;
  return events::read_position{std::stoll(r[0][0].as<std::string>()), position};
}

void save_snapshot(pqxx::connection& c, const snapshot& s) {
  pqxx::work tx{c};
  // Never move a snapshot backwards (a slower writer may save an older one later).
  tx.exec_params(
      "INSERT INTO snapshots (stream_id, version, schema_version, state) VALUES ($1, $2, $3, "
      "$4::json) "
      "ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, schema_version = "
      "EXCLUDED.schema_version, state = EXCLUDED.state, taken_at = now() "
      "WHERE snapshots.version < EXCLUDED.version",
      s.stream_id, s.version, s.schema_version, s.state);
  tx.commit();
}

std::optional<snapshot> load_snapshot(pqxx::connection& c, const std::string& stream_id) {
  pqxx::nontransaction tx{c};  // one statement: no BEGIN/ROLLBACK round trips
  auto r = exec_prepared_once(
      tx, "store_load_snapshot",
      "SELECT version, schema_version, state::text FROM snapshots WHERE stream_id = $1", stream_id);
  if (r.empty()) return std::nullopt;
  return snapshot{stream_id, r[0][0].as<int64_t>(), r[0][1].as<int>(), r[0][2].as<std::string>()};
}

}  // namespace beampipe::store
