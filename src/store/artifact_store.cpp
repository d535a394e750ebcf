#include "store/artifact_store.hpp"

#include <set>

#include "store/db.hpp"
#include "util/hash.hpp"

namespace beampipe::store {

std::string put_artifact(pqxx::connection& c, const std::string& media_type,
                         const std::string& content) {
  return put_artifacts(c, {{media_type, &content, {}}}).front();
}

std::vector<std::string> put_artifacts(pqxx::connection& c,
                                       const std::vector<artifact_input>& blobs) {
  std::vector<std::string> shas;
  shas.reserve(blobs.size());
  for (const auto& b : blobs)
    shas.push_back(b.known_sha256.empty() ? util::sha256_hex(*b.content) : b.known_sha256);
  pqxx::work tx{c};
  // Content-addressed: a blob stored before is not sent (and compressed) again.
  std::set<std::string> stored;
  for (const auto& row : tx.exec_params(
           "SELECT sha256 FROM artifact_blobs WHERE sha256 = ANY($1::text[])", pg_text_array(shas)))
    stored.insert(row[0].as<std::string>());
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (!stored.insert(shas[i]).second) continue;
    exec_prepared_once(tx, "artifact_put",
                       "INSERT INTO artifact_blobs (sha256, media_type, size_bytes, content) "
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
                       shas[i], blobs[i].media_type, static_cast<int64_t>(blobs[i].content->size()),
                       pqxx::binarystring(*blobs[i].content));
  }
  tx.commit();
  return shas;
}

std::optional<artifact_blob> get_artifact(pqxx::connection& c, const std::string& sha256) {
  pqxx::read_transaction tx{c};
  auto r =
      tx.exec_params("SELECT media_type, content FROM artifact_blobs WHERE sha256 = $1", sha256);
  if (r.empty()) return std::nullopt;
  pqxx::binarystring bytes(r[0][1]);
  return artifact_blob{sha256, r[0][0].as<std::string>(), bytes.str()};
}

}  // namespace beampipe::store
