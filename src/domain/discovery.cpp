#include "domain/discovery.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "domain/canonical_json.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Rust f64 Display: shortest round-trip digits, never exponent form, no ".0".
std::string display_f64(double d) {
  if (d == 0) d = 0;  // "-0" only arises from sign handling below, not from here
  char buf[512];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  if (r.ec != std::errc()) return "0";
  return std::string(buf, r.ptr);
}

std::optional<double> as_f64(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_string()) {
    auto t = trim_copy(v.get_string());
    if (t.empty()) return std::nullopt;
    std::string_view sv = t;
    if (sv[0] == '+') sv.remove_prefix(1);
    double d = 0;
    auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), d);
    if (ec == std::errc() && p == sv.data() + sv.size() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

const json::value* column(const json::object& row, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (const auto* v = lookup_ci(row, n)) return v;
  return nullptr;
}

std::string sort_key(const json::object& stripped) {
  auto field = [&](std::string_view k) {
    const auto* v = stripped.if_contains(k);
    return v ? value_key(*v) : std::string();
  };
  return field("dataset_id") + "\x1f" + field("visibility_filename") + "\x1f" +
         stable_json(stripped);
}

bool byte_less(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  });
}

// Sorts records by the signature sort key of their stripped form.
json::array sorted_records(std::vector<json::object> records,
                           const std::vector<std::string>& exclude) {
  std::vector<std::pair<std::string, json::object>> keyed;
  keyed.reserve(records.size());
  for (auto& r : records) {
    auto stripped = strip_fields(r, exclude);
    keyed.emplace_back(sort_key(stripped.get_object()), std::move(r));
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return byte_less(a.first, b.first); });
  json::array out;
  for (auto& [_, r] : keyed) out.push_back(std::move(r));
  return out;
}

}  // namespace

std::optional<json::value> mapped_value(const json::object& row, const Mapping& mapping,
                                        std::string_view source_identifier,
                                        const Enrichments& enrichments,
                                        const TransformDefinitions& defs) {
  std::optional<json::value> raw;
  const std::string& from = mapping.from;
  if (from == "source_identifier") {
    raw = json::value(json::string(source_identifier));
  } else if (starts_with(from, "enrichments.") || starts_with(from, "enrichment.")) {
    auto name = from.substr(from.find('.') + 1);
    // Per-SBID key: the row's raw sbid column, else obs_id (untransformed).
    std::optional<std::string> key;
    if (const auto* s = lookup_ci(row, "sbid"))
      key = value_string(*s);
    else if (const auto* o = lookup_ci(row, "obs_id"))
      key = value_string(*o);
    else
      return std::nullopt;
    raw = json::value(nullptr);
    if (key)
      if (const auto* e = enrichments.if_contains(name); e && e->is_object())
        if (const auto* hit = e->get_object().if_contains(*key)) raw = *hit;
  } else {
    const auto* v = lookup_ci(row, from);
    if (!v) return std::nullopt;
    raw = *v;
  }
  if (!mapping.transform) return raw;
  return apply_ref(*mapping.transform, *raw, defs);
}

std::string degrees_to_ra(double d) {
  double hours = d / 15.0;
  double h = std::trunc(hours);
  double r = hours - h;
  double m = std::trunc(r * 60.0);
  double s = std::round((r - m / 60.0) * 3600.0 * 100.0) / 100.0;
  return display_f64(h) + "h" + display_f64(m) + "m" + display_f64(s) + "s";
}

std::string degrees_to_dec(double d) {
  double D = std::trunc(d);
  double r = std::fabs(d - D);
  double m = std::trunc(r * 60.0);
  double s = std::round((r - m / 60.0) * 3600.0 * 100.0) / 100.0;
  std::string deg = display_f64(D);
  if (d < 0 && D == 0) deg = "-0";  // keep the sign of declinations in (-1, 0)
  return deg + "." + display_f64(m) + "." + display_f64(s);
}

json::object compute_discovery_flags(const std::map<std::string, Mapping>& flag_map,
                                     const Enrichments& enrichments,
                                     const TransformDefinitions& defs) {
  json::object flags;
  for (const auto& [name, mapping] : flag_map) {
    // Dot-path inside {"enrichments": enrichments}; object keys only.
    json::value raw = nullptr;
    std::string_view path = mapping.from;
    const json::value* cur = nullptr;
    json::value root_holder;  // avoids copying the enrichments for the first step
    bool first = true;
    bool missing = false;
    while (!path.empty() || first) {
      auto dot = path.find('.');
      auto part = path.substr(0, dot);
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
      if (first) {
        first = false;
        if (part != "enrichments") {
          missing = true;
          break;
        }
        if (path.empty()) {
          root_holder = enrichments;
          cur = &root_holder;
          break;
        }
        auto dot2 = path.find('.');
        auto name2 = path.substr(0, dot2);
        path = dot2 == std::string_view::npos ? std::string_view() : path.substr(dot2 + 1);
        cur = enrichments.if_contains(name2);
        if (!cur) {
          missing = true;
          break;
        }
        continue;
      }
      if (!cur->is_object() || !(cur = cur->get_object().if_contains(part))) {
        missing = true;
        break;
      }
    }
    if (!missing && cur) raw = *cur;
    json::value flag = raw;
    if (mapping.transform)
      if (auto t = apply_ref(*mapping.transform, raw, defs)) flag = std::move(*t);
    flags[name] = std::move(flag);
  }
  // Hard-coded WALLABY extra (spec §5.5).
  if (const auto* rdv = enrichments.if_contains("ra_dec_vsys");
      rdv && rdv->is_array() && !rdv->get_array().empty() && rdv->get_array()[0].is_object()) {
    const auto& R = rdv->get_array()[0].get_object();
    auto coord = [&](std::string_view flag, std::initializer_list<std::string_view> cols,
                     auto format) {
      const auto* v = column(R, cols);
      if (!v) return;
      if (auto d = as_f64(*v))
        flags[flag] = format(*d);
      else if (!flags.contains(flag))
        flags[flag] = *v;
    };
    coord("ra_string", {"RAJ2000", "ra_j2000"}, degrees_to_ra);
    coord("dec_string", {"DEJ2000", "dec_j2000"}, degrees_to_dec);
    if (!flags.contains("vsys"))
      for (auto col : {"RVmom", "RV50max", "RV50min"})
        if (const auto* v = lookup_ci(R, col); v && !v->is_null()) {
          flags["vsys"] = *v;
          break;
        }
  }
  return flags;
}

json::object prepare_record(const json::object& row, std::string_view source_identifier,
                            const Enrichments& enrichments, const json::object& flags,
                            const std::map<std::string, Mapping>& field_map,
                            const TransformDefinitions& defs) {
  json::object rec;
  for (const auto& [target, mapping] : field_map)
    if (auto v = mapped_value(row, mapping, source_identifier, enrichments, defs))
      rec[target] = std::move(*v);
  if (!rec.contains("source_identifier")) rec["source_identifier"] = source_identifier;
  for (const auto& kv : row) {
    std::string lower(kv.key());
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!rec.contains(lower)) rec[lower] = kv.value();
  }
  if (const auto* sbid = rec.if_contains("sbid"))
    if (auto key = value_string(*sbid)) {
      for (const auto& e : enrichments)
        if (e.value().is_object())
          if (const auto* hit = e.value().get_object().if_contains(*key)) rec[e.key()] = *hit;
    }
  if (const auto* ef = rec.if_contains("sbid_to_eval_file"); ef && ef->is_object()) {
    json::object eval = ef->get_object();
    if (const auto* url = eval.if_contains("access_url")) rec["evaluation_file_access_url"] = *url;
    if (!rec.contains("evaluation_file")) {
      if (const auto* f = eval.if_contains("filename"))
        rec["evaluation_file"] = *f;
      else if (const auto* f2 = eval.if_contains("file_name"))
        rec["evaluation_file"] = *f2;
    }
  }
  for (auto k : {"ra_string", "dec_string", "vsys"})
    if (const auto* v = flags.if_contains(k)) rec[k] = *v;
  return rec;
}

std::vector<std::string> sbids_from_primary_rows(const json::array& rows,
                                                 const ProjectConfig& config) {
  std::set<std::string> out;
  const Mapping* sbid_map = nullptr;
  if (config.discovery.prepare_metadata) {
    auto it = config.discovery.prepare_metadata->field_map.find("sbid");
    if (it != config.discovery.prepare_metadata->field_map.end()) sbid_map = &it->second;
  }
  const json::object no_enrichments;
  for (const auto& r : rows) {
    if (!r.is_object()) continue;
    std::optional<json::value> v;
    if (sbid_map)
      v = mapped_value(r.get_object(), *sbid_map, "", no_enrichments, config.transforms());
    else if (const auto* raw = lookup_ci(r.get_object(), "sbid"))
      v = *raw;
    if (v)
      if (auto s = value_string(*v)) out.insert(*s);
  }
  return {out.begin(), out.end()};
}

Result<json::value> select_calibration_row(const json::array& rows, std::string_view sbid) {
  const std::string prefix = "calibration-metadata-processing-logs-SB" + std::string(sbid) + "_";
  json::array candidates;
  std::set<std::string> names;
  for (const auto& r : rows) {
    if (!r.is_object()) continue;
    const auto* f = r.get_object().if_contains("filename");
    if (!f || !f->is_string()) continue;
    std::string name(f->get_string());
    if (!starts_with(name, prefix) || name.size() < 4 || name.substr(name.size() - 4) != ".tar")
      continue;
    if (!names.insert(name).second)
      return DomainError{"SBID " + std::string(sbid) +
                         " has duplicate calibration metadata archive rows for " + name};
    candidates.push_back(r);
  }
  // The same strict rules as select_eval_file_by_size choose among the candidates.
  TransformSpec select{"select_eval_file_by_size", {}, {}, {}, {}, {}, {}, {}, {}, {}};
  auto chosen = apply_transform(select, candidates, {});
  if (chosen && chosen->is_string())
    for (const auto& c : candidates)
      if (c.get_object().at("filename") == *chosen) return c;
  return DomainError{"SBID " + std::string(sbid) + " has no valid calibration metadata archive"};
}

PreparedDiscovery prepare_discovery(std::string_view source_identifier,
                                    const json::array& primary_rows, const Enrichments& enrichments,
                                    const ProjectConfig& config) {
  static const std::map<std::string, Mapping> none;
  const auto& pm = config.discovery.prepare_metadata;
  const auto& field_map = pm ? pm->field_map : none;
  const auto& flag_map = pm ? pm->discovery_flags : none;
  PreparedDiscovery out;
  out.flags = compute_discovery_flags(flag_map, enrichments, config.transforms());
  for (const auto& r : primary_rows)
    if (r.is_object())
      out.records.push_back(prepare_record(r.get_object(), source_identifier, enrichments,
                                           out.flags, field_map, config.transforms()));
  return out;
}

SignatureOptions signature_options(const ProjectConfig& config) {
  if (config.discovery.prepare_metadata && config.discovery.prepare_metadata->signature)
    return *config.discovery.prepare_metadata->signature;
  return {};
}

json::value strip_fields(const json::value& v, const std::vector<std::string>& fields) {
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(strip_fields(e, fields));
    return a;
  }
  if (!v.is_object()) return v;
  json::object o;
  for (const auto& kv : v.get_object()) {
    if (std::find(fields.begin(), fields.end(), kv.key()) != fields.end()) continue;
    o[kv.key()] = strip_fields(kv.value(), fields);
  }
  return o;
}

std::map<std::string, json::value> metadata_rows(const json::array& records,
                                                 const json::object& flags,
                                                 const SignatureOptions& options) {
  std::map<std::string, std::vector<json::object>> groups;
  for (const auto& r : records) {
    if (!r.is_object()) continue;
    const auto* sbid = r.get_object().if_contains("sbid");
    if (!sbid || sbid->is_null()) continue;
    groups[value_key(*sbid)].push_back(r.get_object());
  }
  std::map<std::string, json::value> rows;
  for (auto& [sbid, recs] : groups) {
    json::object row;
    row["datasets"] = sorted_records(std::move(recs), options.exclude_fields);
    if (!flags.empty()) row["discovery_flags"] = flags;
    rows[sbid] = std::move(row);
  }
  return rows;
}

json::object signature_payload_from_rows(const std::map<std::string, json::value>& rows,
                                         const SignatureOptions& options) {
  json::object payload;
  for (const auto& [sbid, row] : rows) {
    if (!row.is_object()) {
      payload[sbid] = row;
      continue;
    }
    json::object out;
    for (const auto& kv : row.get_object()) {
      if (kv.key() == "datasets" && kv.value().is_array()) {
        std::vector<json::object> stripped;
        json::array others;
        for (const auto& d : kv.value().get_array()) {
          auto s = strip_fields(d, options.exclude_fields);
          if (s.is_object())
            stripped.push_back(std::move(s.get_object()));
          else
            others.push_back(std::move(s));
        }
        json::array sorted = sorted_records(std::move(stripped), {});
        for (auto& o : others) sorted.push_back(std::move(o));
        out["datasets"] = std::move(sorted);
      } else if (kv.key() == "discovery_flags") {
        // Flags are hashed unstripped, and only when enabled and non-empty.
        if (options.include_discovery_flags && !json_empty(kv.value()))
          out["discovery_flags"] = kv.value();
      } else {
        out[kv.key()] = kv.value();
      }
    }
    payload[sbid] = std::move(out);
  }
  return payload;
}

std::string discovery_signature(const json::array& records, const json::object& flags,
                                const SignatureOptions& options) {
  return existing_signature_from_rows(metadata_rows(records, flags, options), options);
}

std::string existing_signature_from_rows(const std::map<std::string, json::value>& rows,
                                         const SignatureOptions& options) {
  return sha256_hex(stable_json(signature_payload_from_rows(rows, options)));
}

json::value no_datasets_row() {
  json::object row;
  row["datasets"] = json::array();
  row["discovery_status"] = "no_datasets";
  return row;
}

std::string no_datasets_signature() {
  json::object payload;
  payload[kNoDatasetsSbid] = no_datasets_row();
  return sha256_hex(stable_json(payload));
}

std::string aggregate_discovery_signature(const std::map<std::string, std::string>& by_source) {
  json::object o;
  for (const auto& [source, sig] : by_source) o[source] = sig;
  return sha256_hex(stable_json(o));
}

DiscoveryDecision decide_discovery(const PreparedDiscovery& prepared,
                                   const std::string& stored_signature,
                                   const std::map<std::string, json::value>& stored_rows,
                                   const SignatureOptions& options) {
  DiscoveryDecision d;
  if (prepared.records.empty()) {
    d.no_datasets = true;
    d.rows[std::string(kNoDatasetsSbid)] = no_datasets_row();
  } else {
    d.rows = metadata_rows(prepared.records, prepared.flags, options);
    for (const auto& [_, row] : d.rows) d.datasets += row.at("datasets").as_array().size();
  }
  d.signature = existing_signature_from_rows(d.rows, options);
  const std::string existing = !stored_signature.empty()
                                   ? stored_signature
                                   : existing_signature_from_rows(stored_rows, options);
  d.changed = stored_rows.empty() || existing != d.signature;
  for (const auto& [sbid, _] : stored_rows)
    if (!d.rows.count(sbid)) d.delete_sbids.push_back(sbid);
  return d;
}

bool tap_skip_allowed(const std::string& stored_signature,
                      const std::map<std::string, json::value>& stored_rows,
                      const SignatureOptions& options, std::optional<double> hours_since_last_check,
                      double stale_after_hours) {
  if (stored_signature.empty() || stored_rows.empty() || !hours_since_last_check) return false;
  if (!(*hours_since_last_check < stale_after_hours)) return false;
  return existing_signature_from_rows(stored_rows, options) == stored_signature;
}

json::array flatten_metadata_rows(const std::map<std::string, json::value>& rows,
                                  const std::vector<std::string>& sbid_filter) {
  json::array out;
  for (const auto& [sbid, row] : rows) {
    if (!sbid_filter.empty() &&
        std::find(sbid_filter.begin(), sbid_filter.end(), sbid) == sbid_filter.end())
      continue;
    if (!row.is_object()) continue;
    const auto* ds = row.get_object().if_contains("datasets");
    if (!ds || !ds->is_array()) continue;
    for (const auto& d : ds->get_array()) out.push_back(d);
  }
  return out;
}

}  // namespace beampipe::domain
