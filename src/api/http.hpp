#pragma once
// Transport-neutral request/response types and the route table. Handlers are plain
// synchronous functions run on the API's blocking pool (never on Beast's io threads or on
// CAF's scheduler), so they may query PostgreSQL and wait for actor replies.
#include <boost/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace beampipe::api {

struct request {
  std::string method;
  std::string target;  // raw target
  std::string path;    // decoded path without query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> path_params;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string correlation_id;
  std::string peer;
  std::string header(const std::string& lower_name) const;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

response json_response(int status, const boost::json::value& v);
// The one error shape: {"detail": message, "code": code, "field": field?}.
response error_response(int status, const std::string& code, const std::string& message,
                        const std::string& field = "", const boost::json::value& errors = nullptr);

// Thrown by handlers for a clean 4xx/5xx answer.
struct api_error {
  int status;
  std::string code;
  std::string message;
  std::string field;
  boost::json::value errors = nullptr;  // field-level details, e.g. validation diagnostics
};

enum class auth_level { open, user, superuser };

using handler = std::function<response(request&)>;

struct route {
  std::string method;
  std::string pattern;  // "/api/v2/sources/{id}"
  auth_level auth = auth_level::user;
  handler fn;
  std::vector<std::string> segments;
};

class router {
 public:
  void add(std::string method, std::string pattern, auth_level auth, handler fn);
  struct match {
    const route* r = nullptr;
    bool path_known = false;  // some route has this path (→ 405 when the method differs)
    std::vector<std::string> allowed;
  };
  match find(const std::string& method, const std::string& path, std::map<std::string, std::string>& params) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

// Decodes %XX and splits "a=1&b=2"; returns false on malformed escapes.
bool parse_target(const std::string& target, std::string& path, std::map<std::string, std::string>& query);

}  // namespace beampipe::api
