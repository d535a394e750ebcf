#include "domain/daliuge.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "domain/canonical_json.hpp"

namespace beampipe::domain {

namespace json = boost::json;
using S = dim_session_state;

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::int64_t> as_integer(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    auto u = v.get_uint64();
    return u > 100 ? std::optional<std::int64_t>(100) : static_cast<std::int64_t>(u);
  }
  if (v.is_double()) {
    double d = v.get_double();
    if (d >= 0 && d <= 100 && d == static_cast<double>(static_cast<std::int64_t>(d)))
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

S from_int(std::int64_t i) {
  switch (i) {
    case 0:
      return S::pristine;
    case 1:
      return S::building;
    case 2:
      return S::deploying;
    case 3:
      return S::running;
    case 4:
      return S::finished;
    case 5:
      return S::cancelled;
    case 6:
      return S::failed;
    default:
      return S::unknown;
  }
}

S from_string(std::string_view s) {
  auto u = upper(s);
  if (u == "PRISTINE") return S::pristine;
  if (u == "BUILDING") return S::building;
  if (u == "DEPLOYING") return S::deploying;
  if (u == "RUNNING") return S::running;
  if (u == "FINISHED" || u == "COMPLETED") return S::finished;
  if (u == "CANCELLED" || u == "CANCELED") return S::cancelled;
  if (u == "FAILED" || u == "FAIL" || u == "ERROR") return S::failed;
  return S::unknown;
}

// A MasterManager nests DIM maps inside its own; deeper than this is not a DALiuGE answer.
constexpr int kMaxStateDepth = 4;

S from_raw(const json::value& raw, int depth) {
  if (depth > kMaxStateDepth) return S::unknown;
  if (auto i = as_integer(raw)) return from_int(*i);
  if (raw.is_string()) return from_string(raw.get_string());
  if (!raw.is_object()) return S::unknown;
  const auto& obj = raw.get_object();
  if (auto it = obj.find("status"); it != obj.end()) return from_raw(it->value(), depth + 1);
  if (obj.empty()) return S::unknown;
  std::vector<S> nodes;
  for (const auto& kv : obj) nodes.push_back(from_raw(kv.value(), depth + 1));
  auto any = [&](S s) { return std::find(nodes.begin(), nodes.end(), s) != nodes.end(); };
  auto all = [&](S s) {
    return std::all_of(nodes.begin(), nodes.end(), [s](S n) { return n == s; });
  };
  if (any(S::unknown)) return S::unknown;
  if (any(S::failed)) return S::failed;
  if (all(S::finished)) return S::finished;
  if (all(S::cancelled)) return S::cancelled;
  for (S s : {S::running, S::deploying, S::building, S::pristine})
    if (any(s)) return s;
  return S::unknown;
}

bool drop_status_is_error(const json::value& v) {
  if (auto i = as_integer(v)) return *i == 3;
  if (v.is_string()) {
    auto u = upper(v.get_string());
    return u.find("ERROR") != std::string::npos || u.find("FAILED") != std::string::npos;
  }
  return false;
}

// Python truthiness, as DALiuGE's get_roots tests `dropspec.get(key)`.
bool truthy(const json::value& v) { return json_truthy(v, false); }

bool truthy_member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && truthy(it->value());
}

void add_link_targets(const json::object& o, std::string_view key, std::set<std::string>& out) {
  auto it = o.find(key);
  if (it == o.end() || !truthy(it->value())) return;
  const auto& links = it->value();
  auto add = [&](const json::value& link) {
    if (link.is_string()) {
      out.emplace(link.get_string());
    } else if (link.is_object()) {
      for (const auto& kv : link.get_object()) out.emplace(kv.key());
    }
  };
  if (links.is_array()) {
    for (const auto& l : links.get_array()) add(l);
  } else {
    add(links);
  }
}

std::string category_of(const json::object& o) {
  for (std::string_view key : {"categoryType", "type"}) {
    auto it = o.find(key);
    if (it != o.end() && it->value().is_string()) return std::string(it->value().get_string());
  }
  return {};
}

bool is_app_category(std::string_view c) {
  return c == "Application" || c == "app" || c == "Socket" || c == "socket";
}
bool is_data_category(std::string_view c) { return c == "Data" || c == "data" || c == "plain"; }

// Howard Hinnant's civil_from_days: proleptic Gregorian date of a day count since 1970-01-01.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

std::string two(unsigned v) {
  return std::string{static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10)};
}

}  // namespace

std::string_view to_string(dim_session_state s) {
  switch (s) {
    case S::pristine:
      return "PRISTINE";
    case S::building:
      return "BUILDING";
    case S::deploying:
      return "DEPLOYING";
    case S::running:
      return "RUNNING";
    case S::finished:
      return "FINISHED";
    case S::cancelled:
      return "CANCELLED";
    case S::failed:
      return "FAILED";
    case S::unknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

dim_session_state dim_session_state_from_raw(const json::value& raw) { return from_raw(raw, 0); }

execution_status dim_execution_status(dim_session_state s) {
  switch (s) {
    case S::finished:
      return execution_status::completed;
    case S::cancelled:
      return execution_status::cancelled;
    case S::failed:
      return execution_status::failed;
    default:
      return execution_status::running;
  }
}

std::vector<std::string> dim_error_drop_uids(const json::value& graph_status) {
  std::vector<std::string> out;
  if (!graph_status.is_object()) return out;
  for (const auto& kv : graph_status.get_object()) {
    const auto& v = kv.value();
    bool error = drop_status_is_error(v);
    if (!error && v.is_object()) {
      auto it = v.get_object().find("status");
      error = it != v.get_object().end() && drop_status_is_error(it->value());
    }
    if (error) out.emplace_back(kv.key());
  }
  std::sort(out.begin(), out.end());
  return out;
}

execution_status dim_poll_status(dim_session_state s, const std::vector<std::string>& error_uids) {
  auto status = dim_execution_status(s);
  if (status == execution_status::completed && !error_uids.empty()) return execution_status::failed;
  return status;
}

std::vector<std::string> physical_graph_roots(const json::value& pg) {
  std::set<std::string> all;
  std::set<std::string> nonroots;
  if (!pg.is_array()) return {};
  for (const auto& el : pg.get_array()) {
    if (!el.is_object()) continue;
    const auto& o = el.get_object();
    auto oid = o.find("oid");
    if (oid == o.end() || !oid->value().is_string()) continue;
    std::string id(oid->value().get_string());
    all.insert(id);
    auto cat = category_of(o);
    if (is_app_category(cat)) {
      if (truthy_member(o, "inputs") || truthy_member(o, "streamingInputs")) nonroots.insert(id);
      add_link_targets(o, "outputs", nonroots);
    } else if (is_data_category(cat)) {
      if (truthy_member(o, "producers")) nonroots.insert(id);
      add_link_targets(o, "consumers", nonroots);
      add_link_targets(o, "streamingConsumers", nonroots);
    }
  }
  std::vector<std::string> roots;
  std::set_difference(all.begin(), all.end(), nonroots.begin(), nonroots.end(),
                      std::back_inserter(roots));
  return roots;
}

Result<json::array> prepare_physical_graph(const json::value& mapped) {
  if (!mapped.is_array()) return DomainError{"physical graph is not a JSON array"};
  json::array out;
  std::optional<json::object> reprodata;
  for (const auto& el : mapped.get_array()) {
    if (!el.is_object()) continue;
    const auto& o = el.get_object();
    if (!o.contains("oid")) {
      if (o.contains("rmode")) reprodata = o;
      continue;
    }
    json::object drop = o;
    auto cat = drop.find("categoryType");
    if (!drop.contains("type") && cat != drop.end() && cat->value().is_string()) {
      std::string_view c = cat->value().get_string();
      if (c == "Application")
        drop["type"] = "app";
      else if (c == "Data")
        drop["type"] = "plain";
      else if (c == "Socket")
        drop["type"] = "socket";
      else if (c == "Container")
        drop["type"] = "container";
    }
    // NodeManagers build application drops from "app"; data drops are built from dropclass.
    auto type = drop.find("type");
    bool app = type != drop.end() && type->value().is_string() &&
               (type->value().get_string() == "app" || type->value().get_string() == "socket");
    auto dropclass = drop.find("dropclass");
    if (app && !drop.contains("app") && dropclass != drop.end()) drop["app"] = dropclass->value();
    std::string iid;
    if (auto it = drop.find("iid"); it != drop.end()) {
      iid = it->value().is_string() ? std::string(it->value().get_string())
                                    : json::serialize(it->value());
    }
    drop["humanReadableKey"] = std::to_string(out.size() + 1) + "_" + iid;
    out.emplace_back(std::move(drop));
  }
  if (reprodata) out.emplace_back(std::move(*reprodata));
  return out;
}

Result<json::array> bind_slurm_pgt(const json::value& pgt, std::string_view session_id) {
  if (!pgt.is_array()) return DomainError{"PGT is neither a drop array nor a [name, drops] pair"};
  const auto& arr = pgt.get_array();
  json::array out;
  if (arr.size() == 2 && arr[0].is_string() && arr[1].is_array()) {
    out = arr;
  } else {
    out = json::array{"beampipe_pgt.graph", arr};
  }
  out[0] = std::string(session_id) + ".pgt.graph";
  return out;
}

Result<std::string> dim_session_id(std::string_view execution_uuid,
                                   std::int64_t created_at_unix_ms) {
  bool uuid_like = execution_uuid.size() == 36 &&
                   std::all_of(execution_uuid.begin(), execution_uuid.end(), [](char c) {
                     return std::isxdigit(static_cast<unsigned char>(c)) || c == '-';
                   });
  if (!uuid_like) return DomainError{"execution id is not a UUID: " + std::string(execution_uuid)};
  // Floor division so instants before 1970 still land on the right second.
  std::int64_t secs = created_at_unix_ms / 1000 - (created_at_unix_ms % 1000 < 0 ? 1 : 0);
  std::int64_t days = secs / 86400 - (secs % 86400 < 0 ? 1 : 0);
  auto sod = static_cast<unsigned>(secs - days * 86400);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999) return DomainError{"created_at is outside years 0000-9999"};
  std::string year = std::to_string(y);
  year.insert(0, 4 - year.size(), '0');
  return "BeampipeExecution-" + std::string(execution_uuid) + "-" + year + "-" + two(m) + "-" +
         two(d) + "T" + two(sod / 3600) + "-" + two(sod / 60 % 60) + "-" + two(sod % 60);
}

std::string percent_encode_path_segment(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

}  // namespace beampipe::domain
