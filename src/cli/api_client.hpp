#pragma once
// The CLI's client of /api/v2 (operator commands and the terminal console): the kept sign-in
// (`beampipe login`), one refresh on a refused access token, and the API's refusals as errors.
#include <boost/json.hpp>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "adapters/http_client.hpp"

namespace beampipe::cli {

// Where `beampipe login` keeps the API URL and tokens: $XDG_CONFIG_HOME/beampipe/
// credentials.json (else ~/.config/...), owner-only (0600, in a 0700 folder).
std::filesystem::path credentials_path();

struct saved_login {
  std::string url, username, access_token, refresh_token;
};
std::optional<saved_login> load_login();

// The API refused a request: "<status> <code>: <message> (field <field>)".
struct api_refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A request body: JSON, or bytes of another type (a YAML config, a WASM module).
struct payload {
  std::string content_type, bytes;
  explicit payload(const boost::json::value& v);
  payload(std::string type, std::string data);
};

class api_client {
 public:
  // `url`: the API's base (no /api/v2); empty: the URL of the last login, else `fallback`.
  api_client(std::optional<std::string> url, const std::string& fallback);
  const std::string& url() const { return url_; }

  // Sends the request with the kept access token; a 401 refreshes the sign-in once (the
  // refresh token rotates, so the new pair is kept) and sends it again. Throws api_refusal
  // for an answer outside 2xx, adapters::http_error when the API cannot be reached.
  boost::json::value call(const std::string& method, const std::string& path,
                          const std::optional<payload>& body = std::nullopt);
  saved_login login(const std::string& username, const std::string& password);
  // Whether an open route (no sign-in) answers 2xx; false when unreachable.
  bool answers(const std::string& path) const;
  void logout();

 private:
  adapters::http_response send(const std::string& method, const std::string& path,
                               const std::optional<payload>& body, bool bearer) const;
  bool refresh();

  // One request at a time: a refresh rotates the refresh token, and a second use of the old
  // one would revoke the whole sign-in (the console's live feed shares this client).
  std::mutex mu_;
  std::optional<saved_login> saved_;
  std::string url_;
};

}  // namespace beampipe::cli
