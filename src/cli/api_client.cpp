#include "cli/api_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "util/json.hpp"

namespace beampipe::cli {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

fs::path config_dir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return fs::path(x) / "beampipe";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".config" / "beampipe";
  throw std::invalid_argument("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep a login");
}

}  // namespace

std::optional<saved_login> load_login() {
  std::ifstream in(credentials_path());
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  try {
    auto o = util::parse_stored(text.str()).as_object();
    return saved_login{util::get_string_or(o, "url", ""), util::get_string_or(o, "username", ""),
                       util::get_string_or(o, "access_token", ""),
                       util::get_string_or(o, "refresh_token", "")};
  } catch (const std::exception&) {
    throw std::runtime_error(credentials_path().string() +
                             " is not a beampipe login: run beampipe login again");
  }
}

// Written to a new file created 0600 and renamed over the old one: the tokens are never
// readable by anyone else, not even for a moment.
namespace {

void save_login(const saved_login& s) {
  auto dir = config_dir();
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  auto path = credentials_path();
  auto tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp.string());
  auto text = json::serialize(json::object{{"url", s.url},
                                           {"username", s.username},
                                           {"access_token", s.access_token},
                                           {"refresh_token", s.refresh_token}});
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string refusal_text(const adapters::http_response& r) {
  std::string out = std::to_string(r.status);
  try {
    auto o = util::parse_stored(r.body).as_object();
    out += " " + util::get_string_or(o, "code", "");
    out += ": " + util::get_string_or(o, "message", util::get_string_or(o, "detail", ""));
    if (auto f = util::get_string_or(o, "field", ""); !f.empty()) out += " (field " + f + ")";
  } catch (const std::exception&) {
    out += ": " + r.body.substr(0, 200);
  }
  return out;
}

}  // namespace

fs::path credentials_path() { return config_dir() / "credentials.json"; }

payload::payload(const json::value& v)
    : content_type("application/json"), bytes(json::serialize(v)) {}
payload::payload(std::string type, std::string data)
    : content_type(std::move(type)), bytes(std::move(data)) {}

api_client::api_client(std::optional<std::string> url, const std::string& fallback)
    : saved_(load_login()) {
  url_ = url.value_or(saved_ && !saved_->url.empty() ? saved_->url : fallback);
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

json::value api_client::call(const std::string& method, const std::string& path,
                             const std::optional<payload>& body) {
  std::lock_guard lock(mu_);
  auto r = send(method, path, body, true);
  if (r.status == 401 && refresh()) r = send(method, path, body, true);
  if (!r.ok()) throw api_refusal(method + " " + path + ": " + refusal_text(r));
  if (r.body.empty()) return nullptr;
  return util::parse_stored(r.body);
}

saved_login api_client::login(const std::string& username, const std::string& password) {
  std::lock_guard lock(mu_);
  auto r = send("POST", "/login",
                payload(json::object{{"username", username}, {"password", password}}), false);
  if (!r.ok()) throw api_refusal("sign-in: " + refusal_text(r));
  auto o = util::parse_stored(r.body).as_object();
  saved_login s{url_, username, util::get_string_or(o, "access_token", ""),
                util::get_string_or(o, "refresh_token", "")};
  save_login(s);
  saved_ = s;  // this client's next calls use the new sign-in
  return s;
}

bool api_client::answers(const std::string& path) const {
  try {
    return send("GET", path, std::nullopt, false).ok();
  } catch (const std::exception&) {
    return false;
  }
}

void api_client::logout() {
  std::lock_guard lock(mu_);
  if (!saved_) return;
  auto r = send("POST", "/logout",
                payload(json::object{{"access_token", saved_->access_token},
                                     {"refresh_token", saved_->refresh_token}}),
                false);
  if (!r.ok() && r.status != 401) throw api_refusal("sign-out: " + refusal_text(r));
}

adapters::http_response api_client::send(const std::string& method, const std::string& path,
                                         const std::optional<payload>& body, bool bearer) const {
  adapters::http_options o;
  o.connect_timeout = std::chrono::seconds(5);
  o.read_timeout = std::chrono::seconds(120);
  o.max_attempts = method == "GET" ? 3 : 1;  // a write is never sent twice
  o.user_agent = "beampipe-cli";
  adapters::http_request q;
  q.method = method;
  q.url = url_ + "/api/v2" + path;
  if (bearer) {
    if (!saved_ || saved_->access_token.empty())
      throw std::invalid_argument("not signed in: run beampipe login first");
    q.headers.emplace_back("Authorization", "Bearer " + saved_->access_token);
  }
  if (body) {
    q.headers.emplace_back("Content-Type", body->content_type);
    q.body = body->bytes;
  }
  return adapters::http_client(o).send(q);
}

bool api_client::refresh() {
  if (!saved_ || saved_->refresh_token.empty()) return false;
  auto r = send("POST", "/refresh", payload(json::object{{"refresh_token", saved_->refresh_token}}),
                false);
  if (!r.ok()) return false;
  auto o = util::parse_stored(r.body).as_object();
  saved_->access_token = util::get_string_or(o, "access_token", "");
  saved_->refresh_token = util::get_string_or(o, "refresh_token", "");
  save_login(*saved_);
  return true;
}

}  // namespace beampipe::cli
