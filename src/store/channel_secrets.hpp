#pragma once
// A notification channel's secret config (webhook URL, header values, routing key): operational
// state beside the events, which carry the masked config only (domain/alerting.hpp).
#include <boost/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace beampipe::store {

void put_channel_secret(pqxx::connection& c, const std::string& channel_uuid,
                        const boost::json::object& secret);
std::optional<boost::json::object> get_channel_secret(pqxx::connection& c,
                                                      const std::string& channel_uuid);
void erase_channel_secret(pqxx::connection& c, const std::string& channel_uuid);

}  // namespace beampipe::store
