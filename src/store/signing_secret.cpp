#include "store/signing_secret.hpp"

#include "util/ids.hpp"

namespace beampipe::store {

signing_secret ensure_signing_secret(pqxx::connection& c) {
  auto fresh = util::random_hex(32);
  pqxx::work tx{c};
  // Racing first starts: one insert wins, every node reads the winner.
  auto made = tx.exec_params(
      "INSERT INTO auth_signing_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING "
      "RETURNING secret",
      fresh);
  auto row = tx.exec1("SELECT secret FROM auth_signing_secret WHERE id = 1");
  tx.commit();
  return {row[0].as<std::string>(), !made.empty()};
}

}  // namespace beampipe::store
