#include "archive/simulated.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

namespace beampipe::archive {
namespace json = boost::json;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The same fixture as scripts/tap-dachs-up.sh (the real TAP server the tests use), with
// calibration archives in the form [HEAD] selects (format "calibration", …-SB<sbid>_<date>.tar).
struct field {
  const char* name;
  const char* footprint;
  int sbid;
  double ra, dec, mjd;
  const char* date;
  int did;
};
constexpr field kFields[] = {
    {"HIPASSJ1313-15", "A", 12345, 198.30, -15.50, 60340.10, "2024-01-31", 879912},
    {"HIPASSJ1313-15", "B", 12346, 198.45, -15.35, 60341.10, "2024-02-01", 879950},
    {"HIPASSJ1318-21", "A", 22210, 199.60, -21.50, 60352.20, "2024-02-12", 881000},
    {"HIPASSJ1318-21", "B", 22211, 199.75, -21.35, 60353.20, "2024-02-13", 881040},
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// ---- a tiny ADQL scanner: identifiers, quoted strings, symbols ----
struct token {
  enum kind_t { ident, string, symbol } kind;
  std::string text;
};

std::optional<std::vector<token>> scan(const std::string& q) {
  std::vector<token> out;
  size_t i = 0;
  while (i < q.size()) {
    char c = q[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'') {
      std::string s;
      ++i;
      for (;;) {
        if (i >= q.size()) return std::nullopt;  // unterminated literal
        if (q[i] == '\'') {
          if (i + 1 < q.size() && q[i + 1] == '\'') {
            s.push_back('\'');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        s.push_back(q[i++]);
      }
      out.push_back({token::string, s});
    } else if (c == '"') {
      auto end = q.find('"', i + 1);
      if (end == std::string::npos) return std::nullopt;
      out.push_back({token::ident, q.substr(i + 1, end - i - 1)});
      i = end + 1;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < q.size() &&
             (std::isalnum(static_cast<unsigned char>(q[j])) || q[j] == '_' || q[j] == '.'))
        ++j;
      out.push_back({token::ident, q.substr(i, j - i)});
      i = j;
    } else {
      out.push_back({token::symbol, std::string(1, c)});
      ++i;
    }
  }
  return out;
}

struct condition {
  std::string column;  // lower case, alias stripped
  enum { eq, like, in } op;
  std::vector<std::string> values;
};

std::string column_of(const std::string& ident) {
  auto dot = ident.rfind('.');
  return lower(dot == std::string::npos ? ident : ident.substr(dot + 1));
}

const json::value* cell(const json::object& row, const std::string& col) {
  for (const auto& kv : row)
    if (lower(std::string(kv.key())) == col) return &kv.value();
  return nullptr;
}

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

bool matches(const json::object& row, const condition& c) {
  const auto* v = cell(row, c.column);
  if (!v) return false;
  auto t = text_of(*v);
  for (const auto& want : c.values) {
    if (c.op == condition::like) {
      // Only trailing-% patterns are bundled; '_' is literal here.
      if (!want.empty() && want.back() == '%') {
        if (t.rfind(want.substr(0, want.size() - 1), 0) == 0) return true;
      } else if (t == want) {
        return true;
      }
    } else if (t == want) {
      return true;
    }
  }
  return false;
}

}  // namespace

simulated_archive::simulated_archive(std::string datalink_base) {
  auto& obscore = tables_["casda"]["ivoa.obscore"];
  auto& eval = tables_["casda"]["casda.observation_evaluation_file"];
  int n = 0;
  for (const auto& f : kFields) {
    for (int beam = 0; beam < 5; ++beam) {
      char filename[96], did[96];
      std::snprintf(filename, sizeof filename, "%s_%s_beam%02d.ms.tar", f.name, f.footprint, beam);
      std::snprintf(did, sizeof did, "ivo://casda/scan/%s#%d", f.date, f.did + beam);
      auto url = datalink_base + "datalink/links?ID=visibility-" + std::to_string(f.did + beam);
      obscore.push_back(json::object{{"obs_id", "ASKAP-" + std::to_string(f.sbid)},
                                     {"obs_publisher_did", did},
                                     {"filename", filename},
                                     {"obs_collection", "WALLABY"},
                                     {"dataproduct_type", "visibility"},
                                     {"calib_level", 1},
                                     {"access_url", url},
                                     {"s_ra", std::stod(fmt("%.4f", f.ra + 0.9 * (beam % 3 - 1)))},
                                     {"s_dec", std::stod(fmt("%.4f", f.dec + 0.9 * (beam / 3)))},
                                     {"t_min", f.mjd},
                                     {"t_max", f.mjd + 0.35},
                                     {"filesize", int64_t(150000000) + 1000 * f.sbid + beam},
                                     {"target_name", f.name}});
    }
    for (int k = 0; k < 2; ++k) {
      ++n;
      std::string fn = k == 0 ? "calibration-metadata-processing-logs-SB" + std::to_string(f.sbid) +
                                    "_" + std::string(f.date) + ".tar"
                              : "cal_SB" + std::to_string(f.sbid) + "_bandpass.pdf";
      eval.push_back(json::object{{"sbid", f.sbid},
                                  {"filename", fn},
                                  {"format", k == 0 ? "calibration" : "pdf"},
                                  {"filesize", k == 0 ? 52000 + f.sbid : 830 + f.sbid % 97},
                                  {"access_url", datalink_base + "datalink/links?ID=evaluation-" +
                                                     std::to_string(700000 + n)}});
    }
  }
  auto& hicat = tables_["vizier"]["viii_73.hicat"];
  struct h {
    const char* name;
    double ra, dec, max, min, mom;
  };
  for (const auto& r : {h{"J1313-15", 198.3125, -15.7681, 1412.8, 1398.0, 1405.6},
                        h{"J1318-21", 199.6042, -21.4236, 2890.1, 2871.3, 2880.9},
                        h{"J1303-17b", 195.9042, -17.4167, 1502.4, 1488.9, 1495.2},
                        h{"J1320-21", 200.0208, -21.2333, 3050.7, 3031.1, 3040.0},
                        h{"J1337-29", 204.2542, -29.8664, 512.9, 505.1, 509.0}})
    hicat.push_back(json::object{{"HIPASS", r.name},
                                 {"RAJ2000", r.ra},
                                 {"DEJ2000", r.dec},
                                 {"RV50max", r.max},
                                 {"RV50min", r.min},
                                 {"RVmom", r.mom}});
}

const std::map<std::string, json::array>& simulated_archive::tables(
    const std::string& adapter) const {
  static const std::map<std::string, json::array> none;
  auto it = tables_.find(adapter);
  return it == tables_.end() ? none : it->second;
}

domain::archive_answer simulated_archive::query(const std::string& adapter,
                                                const std::string& adql) const {
  auto error = [](std::string m) {
    return domain::archive_answer{std::nullopt, domain::archive_failure{std::move(m), false}};
  };
  auto ts = tables_.find(adapter);
  if (ts == tables_.end()) return error("adapter '" + adapter + "' is not configured");
  auto tokens = scan(adql);
  if (!tokens) return error("ADQL syntax error: unterminated literal");
  const auto& tk = *tokens;
  std::string table;
  for (size_t i = 0; i + 1 < tk.size(); ++i)
    if (tk[i].kind == token::ident && lower(tk[i].text) == "from" &&
        tk[i + 1].kind == token::ident) {
      table = lower(tk[i + 1].text);
      break;
    }
  if (table == "viii/73/hicat") table = "viii_73.hicat";  // VizieR's delimited name
  auto t = ts->second.find(table);
  if (t == ts->second.end()) return error("Could not locate table '" + table + "'");
  std::vector<condition> conds;
  bool latest = false;
  for (size_t i = 0; i < tk.size(); ++i) {
    if (tk[i].kind != token::ident) continue;
    auto word = lower(tk[i].text);
    if (word == "max" && i + 2 < tk.size() && tk[i + 1].text == "(" &&
        column_of(tk[i + 2].text) == "t_max")
      latest = true;
    if (i + 2 < tk.size() && tk[i + 2].kind == token::string &&
        ((tk[i + 1].kind == token::symbol && tk[i + 1].text == "=") ||
         lower(tk[i + 1].text) == "like")) {
      conds.push_back({column_of(tk[i].text),
                       tk[i + 1].text == "=" ? condition::eq : condition::like,
                       {tk[i + 2].text}});
    } else if (i + 2 < tk.size() && lower(tk[i + 1].text) == "in" && tk[i + 2].text == "(") {
      condition c{column_of(tk[i].text), condition::in, {}};
      for (size_t j = i + 3; j < tk.size() && tk[j].text != ")"; ++j)
        if (tk[j].kind == token::string) c.values.push_back(tk[j].text);
      conds.push_back(std::move(c));
    }
  }
  json::array rows;
  for (const auto& r : t->second) {
    const auto& row = r.as_object();
    if (std::all_of(conds.begin(), conds.end(),
                    [&](const condition& c) { return matches(row, c); }))
      rows.push_back(r);
  }
  if (latest && !rows.empty()) {
    double mx = -1e300;
    for (const auto& r : rows) mx = std::max(mx, r.as_object().at("t_max").to_number<double>());
    json::array kept;
    for (const auto& r : rows)
      if (r.as_object().at("t_max").to_number<double>() == mx) kept.push_back(r);
    rows = std::move(kept);
  }
  return {domain::archive_rows{std::move(rows), false}, std::nullopt};
}

}  // namespace beampipe::archive
