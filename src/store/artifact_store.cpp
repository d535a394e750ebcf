#include "store/artifact_store.hpp"

#include "util/hash.hpp"

namespace beampipe::store {

std::string put_artifact(pqxx::connection& c, const std::string& media_type,
                         const std::string& content) {
  auto sha = util::sha256_hex(content);
  pqxx::work tx{c};
  // Content-addressed: a blob stored before is not sent (and compressed) again.
  if (!tx.exec_params("SELECT 1 FROM artifact_blobs WHERE sha256 = $1", sha).empty()) return sha;
  tx.exec_params(
      "INSERT INTO artifact_blobs (sha256, media_type, size_bytes, content) VALUES ($1, $2, $3, "
      "$4) "
      "ON CONFLICT (sha256) DO NOTHING",
      sha, media_type, static_cast<int64_t>(content.size()), pqxx::binarystring(content));
  tx.commit();
  return sha;
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
