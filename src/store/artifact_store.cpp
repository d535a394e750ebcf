#include "store/artifact_store.hpp"

#include <map>
#include <stdexcept>

#include "store/db.hpp"
#include "util/hash.hpp"
#include "util/json_delta.hpp"

namespace beampipe::store {
namespace json = boost::json;

std::string put_artifact(pqxx::connection& c, const std::string& media_type,
                         const std::string& content) {
  return put_artifacts(c, {{media_type, &content, {}}}).front();
}

std::vector<std::string> put_artifacts(pqxx::connection& c,
                                       const std::vector<artifact_input>& blobs) {
  std::vector<std::string> shas, wanted;
  shas.reserve(blobs.size());
  for (const auto& b : blobs) {
    shas.push_back(b.known_sha256.empty() ? util::sha256_hex(*b.content) : b.known_sha256);
    wanted.push_back(shas.back());
    if (b.delta) wanted.push_back(b.delta->base_sha256);
  }
  pqxx::work tx{c};
  // Content-addressed: a blob stored before is not sent (and compressed) again. Whether each is
  // stored whole matters for a base: a delta is only ever made on a whole blob.
  std::map<std::string, bool> stored;  // sha256 -> stored whole
  for (const auto& row : exec_prepared_once(
           tx, "artifact_stored",
           "SELECT sha256, base_sha256 IS NULL FROM artifact_blobs WHERE sha256 = ANY($1::text[])",
           pg_text_array(wanted)))
    stored[row[0].as<std::string>()] = row[1].as<bool>();
  auto insert = [&](const std::string& sha, const std::string& media_type, int64_t size,
                    const std::string& content, const std::string* base) {
    exec_prepared_once(tx, "artifact_put",
                       "INSERT INTO artifact_blobs (sha256, media_type, size_bytes, content, "
                       "base_sha256) VALUES ($1, $2, $3, $4, nullif($5, '')) "
                       "ON CONFLICT (sha256) DO NOTHING",
                       sha, media_type, size, pqxx::binarystring(content),
                       base ? *base : std::string());
    stored[sha] = base == nullptr;
  };
  for (size_t i = 0; i < blobs.size(); ++i) {
    const auto& b = blobs[i];
    if (stored.count(shas[i])) continue;
    auto size = static_cast<int64_t>(b.content->size());
    if (b.delta) {
      const auto& d = *b.delta;
      auto base = stored.find(d.base_sha256);
      if (base == stored.end()) {
        insert(d.base_sha256, b.media_type, static_cast<int64_t>(d.base_content->size()),
               *d.base_content, nullptr);
        base = stored.find(d.base_sha256);
      }
      if (base->second) {
        insert(shas[i], b.media_type, size, d.replacements, &d.base_sha256);
        continue;
      }
    }
    insert(shas[i], b.media_type, size, *b.content, nullptr);
  }
  tx.commit();
  return shas;
}

namespace {

// The bytes a delta row stands for: its base's, with the replacements applied.
std::string rebuild(pqxx::transaction_base& tx, const std::string& sha256,
                    const std::string& replacements, const std::string& base_sha256) {
  auto r = tx.exec_params(
      "SELECT content FROM artifact_blobs WHERE sha256 = $1 AND base_sha256 IS NULL", base_sha256);
  if (r.empty())
    throw std::runtime_error("artifact " + sha256 + ": its base " + base_sha256 + " is missing");
  json::parse_options opts;
  opts.max_depth = 256;
  auto value = json::parse(pqxx::binarystring(r[0][0]).str(), {}, opts);
  util::apply_json_delta(value, json::parse(replacements, {}, opts).as_array());
  auto bytes = json::serialize(value);
  if (util::sha256_hex(bytes) != sha256)
    throw std::runtime_error("artifact " + sha256 + " does not rebuild from its base");
  return bytes;
}

}  // namespace

std::optional<artifact_blob> get_artifact(pqxx::transaction_base& tx, const std::string& sha256) {
  auto r = tx.exec_params(
      "SELECT media_type, content, coalesce(base_sha256, '') FROM artifact_blobs WHERE sha256 = $1",
      sha256);
  if (r.empty()) return std::nullopt;
  auto bytes = pqxx::binarystring(r[0][1]).str();
  auto base = r[0][2].as<std::string>();
  if (!base.empty()) bytes = rebuild(tx, sha256, bytes, base);
  return artifact_blob{sha256, r[0][0].as<std::string>(), std::move(bytes)};
}

std::optional<artifact_blob> get_artifact(pqxx::connection& c, const std::string& sha256) {
  pqxx::read_transaction tx{c};
  return get_artifact(tx, sha256);
}

}  // namespace beampipe::store
