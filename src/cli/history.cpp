#include "cli/history.hpp"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "events/catalog.hpp"
#include "events/validity.hpp"
#include "store/event_chain.hpp"
#include "util/hash.hpp"

namespace beampipe::cli {
namespace json = boost::json;

namespace {

std::invalid_argument at_line(int64_t line, const std::string& why) {
  return std::invalid_argument("line " + std::to_string(line) + ": " + why);
}

const json::value& field(const json::object& o, const char* k, int64_t line) {
  auto it = o.find(k);
  if (it == o.end()) throw at_line(line, std::string("missing field '") + k + "'");
  return it->value();
}

std::string text_field(const json::object& o, const char* k, int64_t line) {
  const auto& v = field(o, k, line);
  if (!v.is_string() || v.as_string().empty())
    throw at_line(line, std::string("'") + k + "' must be a non-empty string");
  return std::string(v.as_string());
}

int64_t int_field(const json::object& o, const char* k, int64_t line) {
  const auto& v = field(o, k, line);
  if (!v.is_int64() && !v.is_uint64())
    throw at_line(line, std::string("'") + k + "' must be an integer");
  auto n = v.to_number<int64_t>();
  if (n < 1) throw at_line(line, std::string("'") + k + "' must be at least 1");
  return n;
}

}  // namespace

import_report import_history(pqxx::connection& c, std::istream& in,
                             const std::optional<std::string>& artifacts_dir,
                             const std::function<void(int64_t lines)>& progress) {
  import_report report;
  pqxx::work tx{c};
  // One importer at a time, and no appender in between: the positions are the file's.
  tx.exec("LOCK TABLE events IN EXCLUSIVE MODE");
  std::map<std::string, int64_t> versions;  // stream -> last version (store or file)
  auto stream_version = [&](const std::string& stream) -> int64_t& {
    auto it = versions.find(stream);
    if (it != versions.end()) return it->second;
    auto r = tx.exec_params(
        "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream);
    return versions[stream] = r[0][0].as<int64_t>();
  };
  int64_t line_no = 0, last_position = 0;
  std::string line;
  // The chain hashes the file claims (an export's "hash"), by position, with their lines.
  std::map<int64_t, std::pair<int64_t, std::string>> claimed;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    // No event may be larger than the store takes (data and metadata, plus the envelope).
    if (line.size() > events::kMaxDataBytes + events::kMaxMetadataBytes + 64 * 1024)
      throw at_line(line_no, "longer than any event the store accepts");
    json::object e;
    try {
      auto v = json::parse(line);
      if (!v.is_object()) throw std::runtime_error("not a JSON object");
      e = std::move(v.as_object());
    } catch (const std::exception& ex) {
      throw at_line(line_no, std::string("not an event: ") + ex.what());
    }
    ++report.read;
    auto position = int_field(e, "position", line_no);
    auto event_id = text_field(e, "event_id", line_no);
    auto stream = text_field(e, "stream_id", line_no);
    auto stream_type = text_field(e, "stream_type", line_no);
    auto version = int_field(e, "stream_version", line_no);
    auto type = text_field(e, "type", line_no);
    auto schema_version = int_field(e, "schema_version", line_no);
    auto recorded_at = text_field(e, "recorded_at", line_no);
    const auto& data_v = field(e, "data", line_no);
    const auto& meta_v = field(e, "metadata", line_no);
    if (!data_v.is_object() || !meta_v.is_object())
      throw at_line(line_no, "data and metadata must be JSON objects");
    auto data = json::serialize(data_v), metadata = json::serialize(meta_v);
    if (auto p = events::storage_problem(data)) throw at_line(line_no, "data: " + *p);
    if (auto p = events::storage_problem(metadata, events::kMaxMetadataBytes))
      throw at_line(line_no, "metadata: " + *p);
    // Every event must read as its type at its version (through the upcasters).
    try {
      (void)events::decode(type, schema_version > 1000 ? -1 : static_cast<int>(schema_version),
                           data_v.as_object());
    } catch (const std::exception& ex) {
      throw at_line(line_no, ex.what());
    }
    if (auto h = e.find("hash"); h != e.end()) {
      const auto& v = h->value();
      if (!v.is_string() || v.as_string().size() != 64 ||
          std::string_view(v.as_string()).find_first_not_of("0123456789abcdef") !=
              std::string_view::npos)
        throw at_line(line_no, "'hash' must be 64 lowercase hex digits");
      claimed[position] = {line_no, std::string(v.as_string())};
    }
    if (position <= last_position)
      throw at_line(line_no, "positions must increase (" + std::to_string(position) + " after " +
                                 std::to_string(last_position) + ")");
    last_position = position;

    // Already stored under this id: it must be the same event.
    auto have = tx.exec_params(
        "SELECT position, stream_id, stream_version, event_type, schema_version, data::text, "
        "metadata::text, recorded_at = $3::timestamptz FROM events WHERE event_id = $1::uuid "
        "OR position = $2",
        event_id, position, recorded_at);
    if (!have.empty()) {
      const auto& h = have[0];
      bool same = h[0].as<int64_t>() == position && h[1].as<std::string>() == stream &&
                  h[2].as<int64_t>() == version && h[3].as<std::string>() == type &&
                  h[4].as<int64_t>() == schema_version && json::parse(h[5].c_str()) == data_v &&
                  json::parse(h[6].c_str()) == meta_v && h[7].as<bool>() && have.size() == 1;
      if (!same)
        throw at_line(line_no, "conflicts with the stored event at position " +
                                   h[0].as<std::string>() + " (" + h[1].as<std::string>() + " v" +
                                   h[2].as<std::string>() + ")");
      stream_version(stream) = std::max(stream_version(stream), version);
      continue;
    }
    auto& last = stream_version(stream);
    if (version != last + 1)
      throw at_line(line_no, stream + " version " + std::to_string(version) + " does not follow " +
                                 std::to_string(last));
    last = version;
    tx.exec_params(
        "INSERT INTO events (position, event_id, stream_id, stream_type, stream_version, "
        "event_type, schema_version, data, metadata, recorded_at) OVERRIDING SYSTEM VALUE "
        "VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8::json, $9::json, $10::timestamptz)",
        position, event_id, stream, stream_type, version, type, schema_version, data, metadata,
        recorded_at);
    tx.exec_params(
        "INSERT INTO streams (stream_id, stream_type, version) VALUES ($1, $2, $3) "
        "ON CONFLICT (stream_id) DO UPDATE SET version = greatest(streams.version, "
        "excluded.version), updated_at = now(), head_hash = NULL",
        stream, stream_type, version);
    ++report.added;
    if (progress && line_no % 1000 == 0) progress(line_no);
  }
  if (in.bad()) throw std::invalid_argument("reading the file failed");
  // The imported events join the hash chain of their streams (store/event_chain.hpp) before
  // anything can be appended after them.
  store::chain_unhashed(tx);
  // Every hash the file carries must be the one the store now holds: recomputed for the events
  // just added (their chain runs on from the store's), stored for those it had. A mismatch means
  // the file (or this store) was altered since the export; nothing is imported.
  std::vector<int64_t> positions;
  auto check = [&] {
    auto stored = store::event_hashes(tx, positions);
    for (auto p : positions) {
      const auto& [at, hash] = claimed.at(p);
      auto it = stored.find(p);
      if (it == stored.end() || it->second != hash)
        throw at_line(at, "hash does not match the event at position " + std::to_string(p) +
                              " and the chain before it (" +
                              (it == stored.end() ? std::string("not chained") : it->second) +
                              "): the history was altered after its export");
      ++report.hashes_checked;
    }
    positions.clear();
  };
  for (const auto& [p, _] : claimed) {
    positions.push_back(p);
    if (positions.size() == 1000) check();
  }
  check();
  // New appends continue after the imported positions.
  tx.exec(
      "SELECT setval(pg_get_serial_sequence('events', 'position'), "
      "greatest((SELECT max(position) FROM events), 1))");

  if (artifacts_dir) {
    namespace fs = std::filesystem;
    std::ifstream index(fs::path(*artifacts_dir) / "index.jsonl");
    if (!index) throw std::invalid_argument("no index.jsonl in " + *artifacts_dir);
    int64_t n = 0;
    while (std::getline(index, line)) {
      ++n;
      if (line.empty()) continue;
      json::object a;
      try {
        a = json::parse(line).as_object();
      } catch (const std::exception& ex) {
        throw std::invalid_argument("index.jsonl line " + std::to_string(n) + ": " + ex.what());
      }
      auto sha = text_field(a, "sha256", n);
      auto media = text_field(a, "media_type", n);
      if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw std::invalid_argument("index.jsonl line " + std::to_string(n) + ": bad sha256");
      std::ifstream blob(fs::path(*artifacts_dir) / sha, std::ios::binary);
      if (!blob) throw std::invalid_argument("artifact " + sha + " is missing");
      std::ostringstream bytes;
      bytes << blob.rdbuf();
      auto content = bytes.str();
      if (util::sha256_hex(content) != sha)
        throw std::invalid_argument("artifact " + sha + " does not match its digest");
      auto r = tx.exec_params(
          "INSERT INTO artifact_blobs (sha256, media_type, size_bytes, content) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
          sha, media, static_cast<int64_t>(content.size()), pqxx::binarystring(content));
      report.artifacts += static_cast<int64_t>(r.affected_rows());
    }
  }
  tx.commit();
  return report;
}

}  // namespace beampipe::cli
