// Validation diagnostics ([HEAD] §10.2 format), shared by project configs and
// deployment profiles.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace beampipe::domain {

enum class Severity { error, warning };

struct Diagnostic {
  std::string path;  // e.g. "discovery.prepare_metadata.field_map.sbid.transform"
  std::string code;  // e.g. "unknown_transform" (§10.2 table)
  Severity severity = Severity::error;
  std::string message;
  std::optional<std::string> hint;
};

// {"path","severity","code","message","hint"?}
boost::json::value to_json(const Diagnostic& d);

inline bool has_errors(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds)
    if (d.severity == Severity::error) return true;
  return false;
}

// Collects diagnostics while walking a document; keeps the current path.
class DiagnosticSink {
 public:
  void error(std::string path, std::string code, std::string message,
             std::optional<std::string> hint = std::nullopt) {
    items_.push_back(
        {std::move(path), std::move(code), Severity::error, std::move(message), std::move(hint)});
  }
  void warning(std::string path, std::string code, std::string message,
               std::optional<std::string> hint = std::nullopt) {
    items_.push_back(
        {std::move(path), std::move(code), Severity::warning, std::move(message), std::move(hint)});
  }
  std::vector<Diagnostic>& items() { return items_; }
  const std::vector<Diagnostic>& items() const { return items_; }

 private:
  std::vector<Diagnostic> items_;
};

// Path helpers: join("a", "b") = "a.b"; index("a", 2) = "a[2]"; root is "".
inline std::string join_path(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}
inline std::string index_path(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

}  // namespace beampipe::domain
