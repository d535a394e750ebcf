#include "domain/diagnostics.hpp"

namespace beampipe::domain {

boost::json::value to_json(const Diagnostic& d) {
  boost::json::object o;
  o["path"] = d.path;
  o["severity"] = d.severity == Severity::error ? "error" : "warning";
  o["code"] = d.code;
  o["message"] = d.message;
  if (d.hint) o["hint"] = *d.hint;
  return o;
}

}  // namespace beampipe::domain
