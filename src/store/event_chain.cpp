#include "store/event_chain.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>

#include "util/hash.hpp"

namespace beampipe::store {

using util::from_hex;
using util::to_hex;

namespace {

constexpr std::string_view kEventTag = "beampipe-event-v1";
constexpr std::string_view kCheckpointTag = "beampipe-checkpoint-v1";
constexpr int64_t kChunk = 5000;
const std::string kZeros(32, '\0');

class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("SHA-256 is not available");
  }
  sha256& add(std::string_view bytes) {
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
    return *this;
  }
  sha256& add_u64(uint64_t v) {
    unsigned char b[8];
    for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<unsigned char>(v & 0xff);
    EVP_DigestUpdate(ctx_.get(), b, 8);
    return *this;
  }
  // A field: its length, then its bytes (no two field lists hash the same bytes).
  sha256& field(std::string_view bytes) { return add_u64(bytes.size()).add(bytes); }
  std::string digest() {
    unsigned char out[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &n);
    return std::string(reinterpret_cast<char*>(out), n);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// An event row as the chain reads it. recorded_at as microseconds: exact (extract gives a
// numeric), whatever the session's time zone.
constexpr const char* kChainColumns =
    "position, event_id::text, stream_id, stream_version, event_type, schema_version, "
    "(extract(epoch FROM recorded_at) * 1000000)::bigint, data::text, metadata::text, "
    "encode(hash, 'hex'), tx_id::text";

struct chain_row {
  int64_t position = 0, stream_version = 0, recorded_us = 0;
  int schema_version = 1;
  std::string event_id, stream_id, event_type, data, metadata, tx_id;
  std::optional<std::string> hash;  // raw bytes
  explicit chain_row(const pqxx::row& r)
      : position(r[0].as<int64_t>()),
        stream_version(r[3].as<int64_t>()),
        recorded_us(r[6].as<int64_t>()),
        schema_version(r[5].as<int>()),
        event_id(r[1].as<std::string>()),
        stream_id(r[2].as<std::string>()),
        event_type(r[4].as<std::string>()),
        data(r[7].as<std::string>()),
        metadata(r[8].as<std::string>()),
        tx_id(r[10].as<std::string>()) {
    if (!r[9].is_null()) hash = from_hex(r[9].as<std::string>());
  }
  std::string computed(std::string_view previous) const {
    return event_hash(previous, {event_id, stream_id, event_type, data, metadata, stream_version,
                                 schema_version, recorded_us});
  }
};

// A range's fingerprint (schema/0021): per event, u64be(position) then the hash's first 8 bytes.
constexpr size_t kFingerprintBytes = 16;
constexpr int64_t kMaxFingerprintedEvents = 4'000'000;  // 64 MB: beyond it, none is kept

std::string prefix_of(std::string_view hash) {
  std::string p(hash.substr(0, 8));
  p.resize(8, '\0');
  return p;
}

void add_fingerprint(std::string& out, int64_t position, std::string_view hash) {
  auto v = static_cast<uint64_t>(position);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  out += prefix_of(hash);
}

struct fingerprint {
  int64_t position = 0;
  std::string prefix;  // the hash's first 8 bytes
  std::string stream;  // now only: the checkpoint does not keep it
};

// Compares a checkpoint's kept fingerprint with its range now and reports each event inserted,
// removed or altered (per stream, the first altered one: a forger who rehashed the rest of the
// stream changed every later hash too), or the first reordered one. Answers how many it named.
template <class Problem>
size_t locate_changes(const std::string& kept_bytes, const std::vector<fingerprint>& now,
                      int64_t seq, Problem&& problem) {
  std::vector<std::pair<int64_t, std::string>> kept;
  for (size_t i = 0; i + kFingerprintBytes <= kept_bytes.size(); i += kFingerprintBytes) {
    uint64_t v = 0;
    for (size_t j = 0; j < 8; ++j) v = (v << 8) | static_cast<unsigned char>(kept_bytes[i + j]);
    kept.emplace_back(static_cast<int64_t>(v), kept_bytes.substr(i + 8, 8));
  }
  std::map<int64_t, const std::string*> kept_at;
  for (const auto& [pos, prefix] : kept) kept_at[pos] = &prefix;
  std::map<int64_t, const fingerprint*> now_at;
  for (const auto& f : now) now_at[f.position] = &f;
  const auto cp = "checkpoint " + std::to_string(seq);
  size_t named = 0;
  std::map<std::string, std::vector<int64_t>> altered;  // by stream, positions in order
  for (const auto& [pos, f] : now_at) {
    auto k = kept_at.find(pos);
    if (k == kept_at.end()) {
      problem(pos, f->stream, 0, "inserted into " + cp + "'s range after it was taken");
      ++named;
    } else if (*k->second != f->prefix) {
      altered[f->stream].push_back(pos);
    }
  }
  for (const auto& [pos, _] : kept_at)
    if (!now_at.count(pos)) {
      problem(pos, "", 0, "removed: " + cp + " held an event at this position");
      ++named;
    }
  for (const auto& [stream, positions] : altered) {
    auto more = positions.size() - 1;
    problem(positions.front(), stream, 0,
            "altered after " + cp + " was taken (its hash is not the one the checkpoint kept)" +
                (more ? "; " + std::to_string(more) + " later event" + (more > 1 ? "s" : "") +
                            " of the stream were rehashed after it"
                      : std::string()));
    ++named;
  }
  if (named == 0 && kept.size() == now.size())
    for (size_t i = 0; i < now.size(); ++i)
      if (kept[i].first != now[i].position) {
        problem(now[i].position, now[i].stream, 0,
                "reordered within " + cp + "'s range (read order changed since it was taken)");
        ++named;
        break;
      }
  return named;
}

checkpoint checkpoint_of(const pqxx::row& r) {
  return {r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<int64_t>(),
          r[3].as<int64_t>(), r[4].as<std::string>(), r[5].as<std::string>()};
}

constexpr const char* kCheckpointColumns =
    "seq, below_tx::text, events, last_position, encode(digest, 'hex'), "
    "to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

// A checkpoint's range recomputed from the events: its digest after `previous`, its size and its
// highest position; `visit(position, hash, stream)` sees each event (tx order) on the way.
struct range_digest {
  std::string digest;
  int64_t events = 0, last_position = 0;
  std::vector<int64_t> unchained;
};
template <class Visit>
range_digest digest_range(pqxx::transaction_base& tx, std::string_view previous, int64_t seq,
                          const std::string& from_tx, const std::string& below_tx, Visit&& visit) {
  sha256 h;
  h.add(previous.empty() ? std::string_view(kZeros) : previous).field(kCheckpointTag);
  h.add_u64(static_cast<uint64_t>(seq)).field(below_tx);
  range_digest out;
  std::string after_tx = from_tx;
  int64_t after_pos = -1;
  for (;;) {
    auto r = tx.exec_params(
        "SELECT position, tx_id::text, encode(hash, 'hex'), stream_id FROM events "
        "WHERE (tx_id, position) > ($1::xid8, $2) AND tx_id < $3::xid8 "
        "ORDER BY tx_id, position LIMIT $4",
        after_tx, after_pos, below_tx, kChunk);
    for (const auto& row : r) {
      auto pos = row[0].as<int64_t>();
      h.add_u64(static_cast<uint64_t>(pos));
      std::string hash;
      if (row[2].is_null())
        out.unchained.push_back(pos);
      else
        h.add(hash = from_hex(row[2].as<std::string>()));
      ++out.events;
      out.last_position = std::max(out.last_position, pos);
      visit(pos, hash, row[3].as<std::string>());
    }
    if (r.size() < static_cast<size_t>(kChunk)) break;
    after_tx = r.back()[1].as<std::string>();
    after_pos = r.back()[0].as<int64_t>();
  }
  out.digest = h.digest();
  return out;
}

}  // namespace

std::string event_hash(std::string_view previous, const chained_fields& e) {
  sha256 h;
  h.add(previous.empty() ? std::string_view(kZeros) : previous).field(kEventTag);
  h.field(e.event_id).field(e.stream_id).field(std::to_string(e.stream_version));
  h.field(e.event_type).field(std::to_string(e.schema_version));
  h.field(std::to_string(e.recorded_us)).field(e.data).field(e.metadata);
  return h.digest();
}

std::map<int64_t, std::string> event_hashes(pqxx::transaction_base& tx,
                                            const std::vector<int64_t>& positions) {
  std::map<int64_t, std::string> out;
  if (positions.empty()) return out;
  auto r = tx.exec_params(
      "SELECT position, encode(hash, 'hex') FROM events WHERE position = ANY($1::bigint[]) "
      "AND hash IS NOT NULL",
      pg_int_array(positions));
  for (const auto& row : r) out.emplace(row[0].as<int64_t>(), row[1].as<std::string>());
  return out;
}

std::map<int64_t, std::string> event_hashes(pqxx::connection& c,
                                            const std::vector<events::recorded_event>& batch) {
  std::vector<int64_t> positions;
  positions.reserve(batch.size());
  for (const auto& e : batch) positions.push_back(e.position);
  pqxx::read_transaction tx{c};
  return event_hashes(tx, positions);
}

int64_t chain_unhashed(pqxx::transaction_base& tx) {
  int64_t chained = 0;
  auto streams = tx.exec("SELECT DISTINCT stream_id FROM events WHERE hash IS NULL ORDER BY 1");
  for (const auto& s : streams) {
    auto stream = s[0].as<std::string>();
    // The appender locks the same row: no append interleaves with this stream's chaining.
    tx.exec_params("SELECT 1 FROM streams WHERE stream_id = $1 FOR UPDATE", stream);
    auto first = tx.exec_params(
        "SELECT min(stream_version) FROM events WHERE stream_id = $1 AND hash IS NULL", stream);
    if (first[0][0].is_null()) continue;
    int64_t version = first[0][0].as<int64_t>();
    std::string previous;
    if (version > 1) {
      auto p = tx.exec_params(
          "SELECT encode(hash, 'hex') FROM events WHERE stream_id = $1 AND stream_version = $2",
          stream, version - 1);
      if (p.empty() || p[0][0].is_null()) continue;  // a gap before it: verify reports it
      previous = from_hex(p[0][0].as<std::string>());
    }
    bool to_end = true;
    for (bool more = true; more;) {
      auto r = tx.exec_params(std::string("SELECT ") + kChainColumns +
                                  " FROM events WHERE stream_id = $1 AND stream_version >= $2 "
                                  "ORDER BY stream_version LIMIT $3",
                              stream, version, kChunk);
      more = r.size() == static_cast<size_t>(kChunk);
      std::vector<int64_t> positions;
      std::vector<std::string> hashes;
      for (const auto& row : r) {
        chain_row e(row);
        // Only a contiguous run of unchained events, up to the stream's end.
        if (e.stream_version != version || e.hash) {
          to_end = more = false;
          break;
        }
        previous = e.computed(previous);
        positions.push_back(e.position);
        hashes.push_back(to_hex(previous));
        ++version;
      }
      if (!positions.empty())
        tx.exec_params(
            "UPDATE events e SET hash = decode(x.h, 'hex') FROM unnest($1::bigint[], $2::text[]) "
            "AS x(p, h) WHERE e.position = x.p",
            pg_int_array(positions), pg_text_array(hashes));
      chained += static_cast<int64_t>(positions.size());
    }
    if (to_end)
      tx.exec_params("UPDATE streams SET head_hash = decode($2, 'hex') WHERE stream_id = $1",
                     stream, to_hex(previous));
  }
  return chained;
}

std::optional<checkpoint> latest_checkpoint(pqxx::connection& c) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec(std::string("SELECT ") + kCheckpointColumns +
                   " FROM audit_checkpoints ORDER BY seq DESC LIMIT 1");
  if (r.empty()) return std::nullopt;
  return checkpoint_of(r[0]);
}

std::optional<checkpoint> take_checkpoint(pqxx::connection& c) {
  pqxx::work tx{c};
  tx.exec("SELECT pg_advisory_xact_lock(hashtextextended('beampipe:audit-checkpoint', 0))");
  auto last = tx.exec(std::string("SELECT ") + kCheckpointColumns +
                      " FROM audit_checkpoints ORDER BY seq DESC LIMIT 1");
  int64_t seq = last.empty() ? 1 : last[0][0].as<int64_t>() + 1;
  std::string from_tx = last.empty() ? "0" : last[0][1].as<std::string>();
  std::string previous = last.empty() ? "" : from_hex(last[0][4].as<std::string>());
  // Every transaction below the oldest one still running has finished: its events are final.
  auto below =
      tx.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")[0][0].as<std::string>();
  std::string prints;
  auto d = digest_range(tx, previous, seq, from_tx, below,
                        [&](int64_t pos, std::string_view hash, const std::string&) {
                          if (prints.size() < kMaxFingerprintedEvents * kFingerprintBytes)
                            add_fingerprint(prints, pos, hash);
                        });
  bool fingerprinted = d.events <= kMaxFingerprintedEvents;
  if (!d.unchained.empty())
    throw std::runtime_error("event at position " + std::to_string(d.unchained.front()) +
                             " is not chained (beampipe migrate chains it)");
  if (d.events == 0) {
    tx.commit();
    if (last.empty()) return std::nullopt;
    return checkpoint_of(last[0]);
  }
  auto r = tx.exec_params(std::string("INSERT INTO audit_checkpoints (seq, below_tx, events, "
                                      "last_position, digest, fingerprints) VALUES ($1, $2::xid8, "
                                      "$3, $4, decode($5, 'hex'), CASE WHEN $6 THEN $7::bytea END) "
                                      "RETURNING ") +
                              kCheckpointColumns,
                          seq, below, d.events, d.last_position, to_hex(d.digest), fingerprinted,
                          pqxx::binarystring(prints));
  tx.commit();
  return checkpoint_of(r[0]);
}

audit_report verify_history(pqxx::connection& c, const std::optional<std::string>& against) {
  audit_report rep;
  auto problem = [&rep](int64_t position, std::string stream, int64_t version, std::string what) {
    if (rep.problems.size() >= 1000) {
      rep.truncated = true;
      return;
    }
    rep.problems.push_back({position, std::move(stream), version, std::move(what)});
  };
  // One snapshot for the whole walk: appends meanwhile are simply not part of it.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx{c};

  // 1. Every stream's chain, in version order.
  std::map<std::string, std::pair<int64_t, std::optional<std::string>>> heads;
  for (const auto& r : tx.exec("SELECT stream_id, version, encode(head_hash, 'hex') FROM streams"))
    heads[r[0].as<std::string>()] = {
        r[1].as<int64_t>(),
        r[2].is_null() ? std::nullopt : std::optional(from_hex(r[2].as<std::string>()))};
  std::string stream;
  int64_t expected = 0, last_position = 0;
  std::string previous;
  std::optional<std::string> last_hash;
  auto end_stream = [&] {
    if (stream.empty()) return;
    ++rep.streams;
    auto it = heads.find(stream);
    if (it == heads.end()) {
      problem(0, stream, expected - 1, "the stream has events but no stream row");
      return;
    }
    if (it->second.first != expected - 1)
      problem(0, stream, it->second.first,
              "the stream row says version " + std::to_string(it->second.first) +
                  " but its last "
                  "event is version " +
                  std::to_string(expected - 1) + " (events removed?)");
    else if (it->second.second && last_hash && *it->second.second != *last_hash)
      problem(0, stream, expected - 1, "the stream's head hash is not its last event's");
    heads.erase(it);
  };
  std::string after_stream;
  int64_t after_version = 0;
  for (;;) {
    auto r = tx.exec_params(std::string("SELECT ") + kChainColumns +
                                " FROM events WHERE (stream_id, stream_version) > ($1, $2) "
                                "ORDER BY stream_id, stream_version LIMIT $3",
                            after_stream, after_version, kChunk);
    for (const auto& row : r) {
      chain_row e(row);
      ++rep.events;
      if (e.stream_id != stream) {
        end_stream();
        stream = e.stream_id;
        expected = 1;
        last_position = 0;
        previous.clear();
      }
      bool resync = false;
      if (e.stream_version != expected) {
        problem(e.position, stream, e.stream_version,
                "stream version " + std::to_string(e.stream_version) + " follows " +
                    std::to_string(expected - 1) + ": the events between were removed");
        resync = true;
      } else if (e.position <= last_position) {
        problem(e.position, stream, e.stream_version,
                "out of order: at position " + std::to_string(e.position) +
                    ", before the stream's previous event at " + std::to_string(last_position));
      }
      if (!e.hash) {
        problem(e.position, stream, e.stream_version, "not chained (no hash)");
        resync = true;
      } else if (!resync && e.computed(previous) != *e.hash) {
        problem(e.position, stream, e.stream_version,
                "altered: its hash does not match its contents and the stream before it");
      }
      // Whatever was wrong here, the next event is checked against what is stored, so one
      // change is reported once.
      previous = e.hash.value_or(kZeros);
      last_hash = e.hash;
      expected = e.stream_version + 1;
      last_position = std::max(last_position, e.position);
    }
    if (r.size() < static_cast<size_t>(kChunk)) break;
    after_stream = r.back()[2].as<std::string>();
    after_version = r.back()[3].as<int64_t>();
  }
  end_stream();
  for (const auto& [s, v] : heads)
    if (v.first > 0) problem(0, s, v.first, "the stream row has no events (all removed?)");

  // 2. The checkpoint chain, recomputed from the events in read order.
  std::optional<std::pair<int64_t, std::string>> reference;
  if (against) {
    auto colon = against->find(':');
    int64_t seq = 0;
    try {
      seq = colon == std::string::npos ? 0 : std::stoll(against->substr(0, colon));
    } catch (const std::exception&) {
      seq = 0;
    }
    auto digest = colon == std::string::npos ? "" : from_hex(against->substr(colon + 1));
    if (seq <= 0 || digest.size() != 32)
      throw std::invalid_argument("--against is SEQ:DIGEST as audit checkpoint prints it");
    reference = {seq, digest};
  }
  bool reference_seen = false;
  std::string chain_previous, from_tx = "0";
  for (const auto& row : tx.exec(std::string("SELECT ") + kCheckpointColumns +
                                 " FROM audit_checkpoints ORDER BY seq")) {
    auto cp = checkpoint_of(row);
    ++rep.checkpoints;
    std::vector<int64_t> late;
    auto d = digest_range(tx, chain_previous, cp.seq, from_tx, cp.below_tx,
                          [&](int64_t pos, std::string_view, const std::string&) {
                            if (pos > cp.last_position) late.push_back(pos);
                          });
    size_t located = 0;
    if (to_hex(d.digest) != cp.digest_hex) {
      auto prints = tx.exec_params(
          "SELECT fingerprints FROM audit_checkpoints WHERE seq = $1 AND "
          "fingerprints IS NOT NULL",
          cp.seq);
      if (!prints.empty()) {
        // The checkpoint kept each event's position and hash prefix: name what changed.
        pqxx::binarystring kept(prints[0][0]);
        std::vector<fingerprint> now;
        digest_range(tx, chain_previous, cp.seq, from_tx, cp.below_tx,
                     [&](int64_t pos, std::string_view hash, const std::string& stream) {
                       now.push_back({pos, prefix_of(hash), stream});
                     });
        located = locate_changes(kept.str(), now, cp.seq, problem);
      } else {
        for (auto pos : late)
          problem(pos, "", 0,
                  "inserted into checkpoint " + std::to_string(cp.seq) +
                      "'s range after it was taken (its last position was " +
                      std::to_string(cp.last_position) + ")");
        located = late.size();
      }
    }
    if (to_hex(d.digest) != cp.digest_hex && located == 0)
      problem(cp.last_position, "", 0,
              "checkpoint " + std::to_string(cp.seq) +
                  " does not recompute: " + std::to_string(cp.events) + " events up to position " +
                  std::to_string(cp.last_position) + " when taken, " + std::to_string(d.events) +
                  " now; one of them was altered, removed, reordered or inserted");
    if (reference && reference->first == cp.seq) {
      reference_seen = true;
      if (d.digest != reference->second)
        problem(cp.last_position, "", 0,
                "the history up to checkpoint " + std::to_string(cp.seq) +
                    " does not match the digest kept outside the database");
    }
    chain_previous = from_hex(cp.digest_hex);  // the stored link: one break is reported once
    from_tx = cp.below_tx;
    rep.latest = cp;
  }
  if (reference && !reference_seen)
    problem(0, "", 0,
            "checkpoint " + std::to_string(reference->first) + " is not stored (removed?)");
  std::stable_sort(
      rep.problems.begin(), rep.problems.end(), [](const audit_problem& a, const audit_problem& b) {
        return (a.position ? a.position : INT64_MAX) < (b.position ? b.position : INT64_MAX);
      });
  return rep;
}

}  // namespace beampipe::store
