#include "store/channel_secrets.hpp"

namespace beampipe::store {
namespace json = boost::json;

void put_channel_secret(pqxx::connection& c, const std::string& channel_uuid,
                        const json::object& secret) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO notification_channel_secrets (channel_uuid, secret) VALUES ($1::uuid, "
      "$2::jsonb) ON CONFLICT (channel_uuid) DO UPDATE SET secret = EXCLUDED.secret, "
      "updated_at = now()",
      channel_uuid, json::serialize(secret));
  tx.commit();
}

std::optional<json::object> get_channel_secret(pqxx::connection& c,
                                               const std::string& channel_uuid) {
  pqxx::read_transaction tx(c);
  auto r = tx.exec_params(
      "SELECT secret::text FROM notification_channel_secrets WHERE channel_uuid = $1::uuid",
      channel_uuid);
  if (r.empty()) return std::nullopt;
  auto v = json::parse(r[0][0].c_str());
  if (!v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

void erase_channel_secret(pqxx::connection& c, const std::string& channel_uuid) {
  pqxx::work tx(c);
  tx.exec_params("DELETE FROM notification_channel_secrets WHERE channel_uuid = $1::uuid",
                 channel_uuid);
  tx.commit();
}

}  // namespace beampipe::store
