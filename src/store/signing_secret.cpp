#include "store/signing_secret.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace beampipe::store {

signing_secret ensure_signing_secret(pqxx::connection& c) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no randomness for a secret");
  static const char* hex = "0123456789abcdef";
  std::string fresh;
  for (unsigned char b : raw) {
    fresh.push_back(hex[b >> 4]);
    fresh.push_back(hex[b & 15]);
  }
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
