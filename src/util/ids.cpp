#include "util/ids.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <stdexcept>

namespace beampipe::util {
namespace {

std::string format_uuid(const std::array<uint8_t, 16>& b) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0xF]);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::array<uint8_t, 16> parse_uuid(std::string_view s) {
  if (!is_uuid(s)) throw std::invalid_argument("not a uuid: " + std::string(s));
  std::array<uint8_t, 16> b{};
  size_t j = 0;
  for (size_t i = 0; i < s.size() && j < 16; ++i) {
    if (s[i] == '-') continue;
    b[j++] = static_cast<uint8_t>(hex_value(s[i]) << 4 | hex_value(s[i + 1]));
    ++i;
  }
  return b;
}

}  // namespace

std::string uuid_v7() {
  // 48-bit unix milliseconds, then a counter-seeded random tail; the mutex keeps ids
  // from one process strictly increasing within a millisecond.
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  static uint64_t last_ms = 0;
  static uint16_t seq = 0;
  std::array<uint8_t, 16> b{};
  uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  uint64_t r1, r2;
  {
    std::lock_guard lk(mu);
    if (ms <= last_ms) {
      ms = last_ms;
      if (++seq > 0x0FFF) {  // counter exhausted: borrow the next millisecond
        ++ms;
        last_ms = ms;
        seq = static_cast<uint16_t>(rng() & 0x03FF);
      }
    } else {
      last_ms = ms;
      seq = static_cast<uint16_t>(rng() & 0x03FF);
    }
    r1 = seq;
    r2 = rng();
  }
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((r1 >> 8) & 0x0F));
  b[7] = static_cast<uint8_t>(r1 & 0xFF);
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(r2 >> (56 - 8 * i));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3F));
  return format_uuid(b);
}

std::string uuid_v5(std::string_view name_space_uuid, std::string_view name) {
  auto ns = parse_uuid(name_space_uuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  EVP_DigestUpdate(ctx, ns.data(), ns.size());
  EVP_DigestUpdate(ctx, name.data(), name.size());
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  std::array<uint8_t, 16> b{};
  for (size_t i = 0; i < 16; ++i) b[i] = digest[i];
  b[6] = static_cast<uint8_t>(0x50 | (b[6] & 0x0F));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3F));
  return format_uuid(b);
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (hex_value(s[i]) < 0) {
      return false;
    }
  }
  return true;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("no randomness available");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (unsigned char b : raw) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

}  // namespace beampipe::util
