#include "domain/redaction.hpp"

#include <cctype>

namespace beampipe::domain {
namespace json = boost::json;

namespace {
const char* const kSecretWords[] = {"password",    "passwd",     "secret",          "token",
                                    "private_key", "privatekey", "passphrase",      "api_key",
                                    "apikey",      "ssh_key",    "credential_value"};

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

bool looks_secret(std::string_view key) {
  auto k = lower(key);
  for (const char* s : kSecretWords)
    if (k.find(s) != std::string::npos) return true;
  return false;
}

std::string redact_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    // scheme://user:password@host → scheme://user:[redacted]@host
    if (text.compare(i, 3, "://") == 0) {
      auto auth_end = text.find_first_of("/?# \t\n\"'", i + 3);
      auto at = text.rfind('@', auth_end == std::string_view::npos ? text.size() : auth_end);
      if (at != std::string_view::npos && at > i + 3) {
        auto colon = text.find(':', i + 3);
        if (colon != std::string_view::npos && colon < at) {
          out.append(text.substr(i, colon + 1 - i)).append(kRedacted);
          i = at;
          continue;
        }
      }
    }
    // A secret-looking word followed by = or : (optionally spaced): mask the value.
    if (word_char(text[i]) && (i == 0 || !word_char(text[i - 1]))) {
      size_t j = i;
      while (j < text.size() && word_char(text[j])) ++j;
      auto word = text.substr(i, j - i);
      size_t k = j;
      while (k < text.size() && text[k] == ' ') ++k;
      if (looks_secret(word) && k < text.size() && (text[k] == '=' || text[k] == ':')) {
        ++k;
        while (k < text.size() && text[k] == ' ') ++k;
        size_t end = k;
        while (end < text.size() && text[end] != '&' && text[end] != ' ' && text[end] != ',' &&
               text[end] != ';' && text[end] != '\n' && text[end] != '"' && text[end] != '\'')
          ++end;
        if (end > k) {
          out.append(text.substr(i, k - i)).append(kRedacted);
          i = end;
          continue;
        }
      }
      out.append(word);
      i = j;
      continue;
    }
    out.push_back(text[i++]);
  }
  return out;
}

void redact_json(json::value& v) {
  if (v.is_string()) {
    auto s = v.as_string();
    auto r = redact_text(std::string_view(s.data(), s.size()));
    if (r.size() != s.size() || r != std::string_view(s.data(), s.size())) v = r;
  } else if (v.is_array()) {
    for (auto& e : v.as_array()) redact_json(e);
  } else if (v.is_object()) {
    for (auto& kv : v.as_object()) {
      if (looks_secret(kv.key()) && !kv.value().is_null() && !kv.value().is_bool())
        kv.value() = kRedacted;
      else
        redact_json(kv.value());
    }
  }
}

std::string recorded_text(std::string_view text, std::size_t max_bytes) {
  auto out = redact_text(text);
  if (out.size() <= max_bytes) return out;
  std::size_t cut = max_bytes;
  // Back up to the start of a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += "\u2026";
  return out;
}

}  // namespace beampipe::domain
