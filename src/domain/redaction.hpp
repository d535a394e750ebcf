#pragma once
// Secret redaction for what the API shows ([HEAD] §9.4): a manifest or an error text may have
// picked up a credential from an archive URL or a backend's message. Keys that name a secret
// lose their value; `password=...`-style pairs and URL user-info passwords are masked.
#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace beampipe::domain {

inline constexpr const char* kRedacted = "[redacted]";

// password, passwd, secret, token, private_key, passphrase, api_key, ... (case-insensitive).
bool looks_secret(std::string_view key);
// Masks `key=value` / `key: value` for secret-looking keys and `scheme://user:pass@` in text.
std::string redact_text(std::string_view text);
// Walks a JSON value: secret-looking keys get kRedacted, every string goes through redact_text.
void redact_json(boost::json::value& v);

// A text from a backend or an archive (an error, a status reason) as an event records it:
// redacted (events keep no secret, issue #16) and cut to `max_bytes` at a character boundary.
std::string recorded_text(std::string_view text, std::size_t max_bytes = 2000);

}  // namespace beampipe::domain
