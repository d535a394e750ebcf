#include "adapters/daliuge_client.hpp"

#include <algorithm>
#include <utility>

namespace beampipe::adapters {

namespace json = boost::json;
using kind = daliuge_error::kind;
using clock = std::chrono::steady_clock;

bool daliuge_error::transient() const noexcept {
  switch (kind_) {
    case kind::unreachable:
    case kind::timeout:
    case kind::not_ready:
    case kind::dependency:
      return true;
    default:
      return false;
  }
}

std::string_view to_string(daliuge_error::kind k) {
  switch (k) {
    case kind::unreachable:
      return "unreachable";
    case kind::timeout:
      return "timeout";
    case kind::not_found:
      return "not_found";
    case kind::conflict:
      return "conflict";
    case kind::not_ready:
      return "not_ready";
    case kind::permanent:
      return "permanent";
    case kind::dependency:
      return "dependency";
    case kind::invalid_response:
      return "invalid_response";
  }
  return "dependency";
}

std::string_view to_string(rest_submission_error::step s) {
  using step = rest_submission_error::step;
  switch (s) {
    case step::unroll_and_partition:
      return "unroll_and_partition";
    case step::map:
      return "map";
    case step::prepare:
      return "prepare";
    case step::create_session:
      return "create_session";
    case step::append_graph:
      return "append_graph";
    case step::deploy:
      return "deploy";
  }
  return "prepare";
}

namespace {

constexpr std::size_t kExcerptBytes = 1024;

// At most 1 KiB, cut on a UTF-8 boundary, on one line (it ends up in logs and run records).
std::string excerpt(std::string_view body) {
  std::size_t n = std::min(body.size(), kExcerptBytes);
  if (n < body.size()) {
    while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
  }
  std::string out(body.substr(0, n));
  for (auto& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

std::optional<json::value> try_parse(std::string_view body);

// What an error answer says, in a line: DALiuGE's {"type", "args"} envelope, an HTML page's
// title (bottle's error pages), else the start of the text. The whole page stays in
// body_excerpt for diagnostics; last_error gets this (issue #17).
std::string message_of(std::string_view body) {
  auto clip = [](std::string t, std::size_t n) {
    for (auto& c : t)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (t.size() > n) {
      while (n > 0 && (static_cast<unsigned char>(t[n]) & 0xC0) == 0x80) --n;
      t = t.substr(0, n) + "\xE2\x80\xA6";
    }
    return t;
  };
  if (auto v = try_parse(body); v && v->is_object()) {
    const auto& o = v->get_object();
    std::string type, args;
    if (auto t = o.find("type"); t != o.end() && t->value().is_string())
      type = t->value().get_string();
    if (auto a = o.find("args"); a != o.end())
      args = a->value().is_string() ? std::string(a->value().get_string())
                                    : json::serialize(a->value());
    if (!type.empty()) return clip(args.empty() ? type : type + ": " + args, 300);
  }
  std::string lower(body.substr(0, std::min<std::size_t>(body.size(), 64 * 1024)));
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto open = lower.find("<title>"); open != std::string::npos) {
    auto close = lower.find("</title>", open);
    if (close != std::string::npos)
      return clip(std::string(body.substr(open + 7, close - open - 7)), 200);
  }
  if (lower.find("<html") != std::string::npos || lower.find("<!doctype") != std::string::npos)
    return "an HTML error page";
  return clip(std::string(body.substr(0, 1024)), 300);
}

std::optional<json::value> try_parse(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return std::nullopt;
  return v;
}

std::string trim_base(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

http_options with_attempts(http_options o, int attempts) {
  o.max_attempts = attempts;
  return o;
}

http_options probe_options(const daliuge_options& o) {
  http_options p = o.http;
  p.max_attempts = 1;
  p.connect_timeout = std::min(p.connect_timeout, o.probe_timeout);
  p.read_timeout = o.probe_timeout;
  return p;
}

daliuge_error from_transport(std::string_view what, const http_error& e) {
  std::string msg = std::string(what) + " failed: " + e.what();
  switch (e.code()) {
    case http_error::kind::connect: {
      daliuge_error out(kind::unreachable, msg);
      if (!e.request_sent()) out.not_sent();
      return out;
    }
    case http_error::kind::timeout:
      return daliuge_error(kind::timeout, msg);
    case http_error::kind::protocol:
      // http_client files a connection closed before or during the answer (Beast's
      // end_of_stream / partial_message) under protocol; for us it is a dropped connection.
      if (msg.find("end of stream") != std::string::npos ||
          msg.find("partial message") != std::string::npos) {
        return daliuge_error(kind::unreachable, msg);
      }
      return daliuge_error(kind::invalid_response, msg);
    case http_error::kind::too_large:
      return daliuge_error(kind::invalid_response, msg);
    case http_error::kind::http_status:
      return daliuge_error(kind::dependency, msg, e.status());
    case http_error::kind::tls:
    case http_error::kind::invalid_url:
      return daliuge_error(kind::permanent, msg);
  }
  return daliuge_error(kind::dependency, msg);
}

probe_result run_probe(const http_client& client, const std::string& url) {
  probe_result r;
  auto start = clock::now();
  try {
    auto resp = client.get(url);
    r.reachable = true;  // the TM and DIM serve HTML at their root; any answer will do
    r.status = resp.status;
  } catch (const http_error& e) {
    r.detail = e.what();
  }
  r.latency = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
  return r;
}

json::value parse_ok_json(std::string_view what, const http_response& resp) {
  auto v = try_parse(resp.body);
  if (!v) {
    throw daliuge_error(kind::invalid_response,
                        std::string(what) + " returned invalid JSON: " + excerpt(resp.body),
                        resp.status, excerpt(resp.body));
  }
  return std::move(*v);
}

json::array expect_array(std::string_view what, const http_response& resp) {
  auto v = parse_ok_json(what, resp);
  if (!v.is_array()) {
    throw daliuge_error(kind::invalid_response,
                        std::string(what) + " did not return a JSON array: " + excerpt(resp.body),
                        resp.status, excerpt(resp.body));
  }
  return std::move(v.as_array());
}

// One value of a form field (the DIM splits completed= on ',' after decoding).
std::string form_value(std::string_view v) {
  auto encoded = form_encode({{"", std::string(v)}});
  return encoded.substr(1);
}

}  // namespace

daliuge_error classify_daliuge_response(std::string_view what, int status, std::string_view body) {
  std::string ex = excerpt(body);
  std::string type;
  std::vector<std::string> inner;
  if (auto v = try_parse(body); v && v->is_object()) {
    const auto& o = v->get_object();
    if (auto t = o.find("type"); t != o.end() && t->value().is_string())
      type = t->value().get_string();
    // SubManagerException: {"args": {"<node>": {"type": T, "args": …}, …}}
    if (auto a = o.find("args"); a != o.end() && a->value().is_object()) {
      for (const auto& node : a->value().get_object()) {
        if (!node.value().is_object()) continue;
        auto it = node.value().get_object().find("type");
        if (it != node.value().get_object().end() && it->value().is_string()) {
          inner.emplace_back(it->value().get_string());
        }
      }
      std::sort(inner.begin(), inner.end());
    }
  }
  auto all_inner = [&](std::string_view t) {
    return !inner.empty() &&
           std::all_of(inner.begin(), inner.end(), [&](const std::string& s) { return s == t; });
  };
  auto any_inner = [&](std::string_view t) {
    return std::find(inner.begin(), inner.end(), t) != inner.end();
  };

  kind k;
  if (status == 404) {
    k = kind::not_found;
  } else if (status == 409) {
    k = kind::conflict;
  } else if (status == 400) {
    k = type == "InvalidSessionState" ? kind::not_ready : kind::permanent;
  } else if (status == 555) {
    if (type == "SessionAlreadyExistsException" || all_inner("SessionAlreadyExistsException")) {
      k = kind::conflict;
    } else if (type == "NoSessionException" || any_inner("NoSessionException")) {
      k = kind::not_found;
    } else if (type == "InvalidSessionState" || any_inner("InvalidSessionState")) {
      k = kind::not_ready;
    } else if (type == "InvalidGraphException" || any_inner("InvalidGraphException")) {
      k = kind::permanent;
    } else {
      k = kind::dependency;  // other DaliugeException, an unreachable NodeManager, …
    }
  } else if (status == 501) {
    k = kind::permanent;  // NotImplemented will not start working on a retry
  } else if (status == 408 || status == 429 || status >= 500) {
    k = kind::dependency;
  } else if (status >= 400) {
    k = kind::permanent;  // 415 wrong Content-Type, 422 validation, …
  } else {
    k = kind::invalid_response;  // 1xx/3xx: not a DALiuGE answer
  }
  std::string msg = std::string(what) + " failed: HTTP " + std::to_string(status);
  if (auto m = message_of(body); !m.empty()) msg += " \xE2\x80\x94 " + m;  // em dash
  return daliuge_error(k, msg, status, std::move(ex), std::move(type), std::move(inner));
}

// ---------------------------------------------------------------------------------------------
// Translator Manager

translator_client::translator_client(std::string tm_url, daliuge_options options)
    : base_(trim_base(std::move(tm_url))),
      options_(std::move(options)),
      reads_(options_.http),
      writes_(with_attempts(options_.http, 1)),
      probe_(probe_options(options_)) {}

probe_result translator_client::probe() const { return run_probe(probe_, base_ + "/"); }

std::vector<std::string> translator_client::submission_methods(std::string_view dim_host,
                                                               int dim_port) const {
  constexpr std::string_view what = "TM submission_method";
  http_request r;
  r.url = base_ + "/api/submission_method?" +
          form_encode({{"dlg_mgr_host", std::string(dim_host)},
                       {"dlg_mgr_port", std::to_string(dim_port)}});
  r.read_timeout = options_.default_timeout;
  http_response resp;
  try {
    resp = reads_.send(r);
  } catch (const http_error& e) {
    throw from_transport(what, e);
  }
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
  auto v = parse_ok_json(what, resp);
  std::vector<std::string> out;
  if (v.is_object()) {
    if (auto* m = v.get_object().if_contains("methods"); m && m->is_array()) {
      for (const auto& x : m->get_array())
        if (x.is_string()) out.emplace_back(x.get_string());
    }
  }
  return out;
}

json::array translator_client::post_for_array(
    std::string_view what, std::string_view path,
    const std::vector<std::pair<std::string, std::string>>& fields) const {
  http_request r;
  r.method = "POST";
  r.url = base_ + std::string(path);
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  r.body = form_encode(fields);
  r.follow_redirects = false;
  r.read_timeout = options_.tm_timeout;
  http_response resp;
  try {
    resp = writes_.send(r);
  } catch (const http_error& e) {
    throw from_transport(what, e);
  }
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
  return expect_array(what, resp);
}

json::array translator_client::unroll_and_partition(const std::string& logical_graph,
                                                    int num_partitions, int num_islands,
                                                    std::string_view algorithm) const {
  return post_for_array("TM unroll_and_partition", "/unroll_and_partition",
                        {{"lg_content", logical_graph},
                         {"num_partitions", std::to_string(std::max(num_partitions, 1))},
                         {"num_islands", std::to_string(std::max(num_islands, 1))},
                         {"algorithm", std::string(algorithm)}});
}

json::array translator_client::map(const json::value& pgt, std::string_view dim_host, int dim_port,
                                   int num_islands) const {
  return post_for_array("TM map", "/map",
                        {{"pgt_content", json::serialize(pgt)},
                         {"host", std::string(dim_host)},
                         {"port", std::to_string(dim_port)},
                         {"num_islands", std::to_string(std::max(num_islands, 1))},
                         {"co_host_dim", "true"}});
}

// ---------------------------------------------------------------------------------------------
// Data Island Manager

dim_client::dim_client(std::string base_url, daliuge_options options)
    : base_(trim_base(std::move(base_url))),
      options_(std::move(options)),
      reads_(options_.http),
      writes_(with_attempts(options_.http, 1)),
      probe_(probe_options(options_)) {}

std::string dim_client::session_url(std::string_view sid) const {
  return base_ + "/api/sessions/" + domain::percent_encode_path_segment(sid);
}

probe_result dim_client::probe() const { return run_probe(probe_, base_ + "/"); }

http_response dim_client::get(std::string_view what, const std::string& url,
                              std::chrono::milliseconds timeout) const {
  http_request r;
  r.url = url;
  r.read_timeout = timeout;
  try {
    return reads_.send(r);
  } catch (const http_error& e) {
    throw from_transport(what, e);
  }
}

http_response dim_client::send_once(std::string_view what, http_request request) const {
  request.follow_redirects = false;
  try {
    return writes_.send(request);
  } catch (const http_error& e) {
    throw from_transport(what, e);
  }
}

dim_client::create_outcome dim_client::create_session(std::string_view sid) const {
  constexpr std::string_view what = "DIM create_session";
  http_request r;
  r.method = "POST";
  r.url = base_ + "/api/sessions";
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = json::serialize(json::object{{"sessionId", sid}});
  r.read_timeout = options_.create_timeout;
  auto resp = send_once(what, std::move(r));
  if (resp.ok()) return create_outcome::created;
  auto err = classify_daliuge_response(what, resp.status, resp.body);
  if (err.code() == kind::conflict) return create_outcome::already_existed;
  throw err;
}

void dim_client::append_graph(std::string_view sid, const json::value& pg_spec) const {
  constexpr std::string_view what = "DIM append_graph";
  http_request r;
  r.method = "POST";
  r.url = session_url(sid) + "/graph/append";
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = json::serialize(pg_spec);
  r.read_timeout = options_.append_timeout;
  auto resp = send_once(what, std::move(r));
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
}

void dim_client::deploy(std::string_view sid, const std::vector<std::string>& roots) const {
  constexpr std::string_view what = "DIM deploy";
  http_request r;
  r.method = "POST";
  r.url = session_url(sid) + "/deploy";
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  if (!roots.empty()) {
    // Each oid is form-encoded on its own so the separating commas stay literal.
    r.body = "completed=";
    for (std::size_t i = 0; i < roots.size(); ++i) {
      if (i) r.body += ',';
      r.body += form_value(roots[i]);
    }
  }
  r.read_timeout = options_.deploy_timeout;
  auto resp = send_once(what, std::move(r));
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
}

dim_status dim_client::status(std::string_view sid) const {
  constexpr std::string_view what = "DIM status";
  auto resp = get(what, status_url(sid), options_.status_timeout);
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
  dim_status out;
  out.raw = parse_ok_json(what, resp);
  out.state = domain::dim_session_state_from_raw(out.raw);
  return out;
}

dim_graph_status dim_client::graph_status(std::string_view sid) const {
  constexpr std::string_view what = "DIM graph_status";
  auto resp = get(what, graph_status_url(sid), options_.status_timeout);
  dim_graph_status out;
  if (!resp.ok()) {
    auto err = classify_daliuge_response(what, resp.status, resp.body);
    if (err.code() == kind::not_ready) return out;  // 555 InvalidSessionState before RUNNING
    throw err;
  }
  out.raw = parse_ok_json(what, resp);
  if (!out.raw.is_object()) {
    throw daliuge_error(kind::invalid_response, std::string(what) + " did not return a JSON object",
                        resp.status, excerpt(resp.body));
  }
  out.ready = true;
  out.error_drop_uids = domain::dim_error_drop_uids(out.raw);
  return out;
}

void dim_client::cancel(std::string_view sid) const {
  constexpr std::string_view what = "DIM cancel";
  http_request r;
  r.method = "POST";
  r.url = session_url(sid) + "/cancel";
  r.read_timeout = options_.default_timeout;
  auto resp = send_once(what, std::move(r));
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
}

json::value dim_client::graph(std::string_view sid) const {
  constexpr std::string_view what = "DIM graph";
  auto resp = get(what, session_url(sid) + "/graph", options_.default_timeout);
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
  return parse_ok_json(what, resp);
}

void dim_client::destroy(std::string_view sid) const {
  constexpr std::string_view what = "DIM destroy";
  http_request r;
  r.method = "DELETE";
  r.url = session_url(sid);
  r.read_timeout = options_.default_timeout;
  auto resp = send_once(what, std::move(r));
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
}

json::array dim_client::list_sessions() const {
  constexpr std::string_view what = "DIM list_sessions";
  auto resp = get(what, base_ + "/api/sessions", options_.default_timeout);
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
  return expect_array(what, resp);
}

bool dim_client::session_exists(std::string_view sid) const {
  for (const auto& s : list_sessions()) {
    if (!s.is_object()) continue;
    auto* id = s.get_object().if_contains("sessionId");
    if (id && id->is_string() && id->get_string() == sid) return true;
  }
  return false;
}

std::vector<std::string> dim_client::nodes() const {
  constexpr std::string_view what = "DIM nodes";
  auto resp = get(what, base_ + "/api/nodes", options_.default_timeout);
  if (!resp.ok()) throw classify_daliuge_response(what, resp.status, resp.body);
  std::vector<std::string> out;
  for (const auto& n : expect_array(what, resp)) {
    if (!n.is_string()) {
      throw daliuge_error(kind::invalid_response, std::string(what) + " returned a non-string node",
                          resp.status, excerpt(resp.body));
    }
    out.emplace_back(n.get_string());
  }
  return out;
}

dim_poll_summary dim_client::poll(std::string_view sid) const {
  using S = domain::dim_session_state;
  dim_poll_summary out;
  out.session_id = std::string(sid);
  auto st = status(sid);
  out.session_state = st.state;
  out.status_json = std::move(st.raw);
  // /graph/status answers 555 before RUNNING: do not ask (Rust did, and logged an error).
  bool has_graph_status = st.state == S::running || st.state == S::finished ||
                          st.state == S::cancelled || st.state == S::failed;
  if (has_graph_status) {
    auto gs = graph_status(sid);
    if (gs.ready) {
      out.graph_status_json = std::move(gs.raw);
      out.error_drop_uids = std::move(gs.error_drop_uids);
    }
  }
  if (st.state == S::unknown) out.session_missing = !session_exists(sid);
  out.status = domain::dim_poll_status(out.session_state, out.error_drop_uids);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Submit

rest_submit_result submit_rest(const translator_client& tm, const dim_client& dim,
                               const rest_submit_request& req) {
  using step = rest_submission_error::step;
  auto guarded = [](step s, bool uncertain, auto&& call) {
    try {
      return call();
    } catch (const daliuge_error& e) {
      // A request that never reached the DIM (refused connection) changed nothing there.
      throw rest_submission_error(s, uncertain && e.request_sent(), e.what(), e.code(), e.status());
    } catch (const std::exception& e) {
      throw rest_submission_error(s, uncertain, std::string(to_string(s)) + " failed: " + e.what());
    }
  };
  // Until create_session is sent nothing exists on the DIM: these failures are certain.
  auto pgt = guarded(step::unroll_and_partition, false, [&] {
    return tm.unroll_and_partition(req.logical_graph, req.num_partitions, req.num_islands,
                                   req.algorithm);
  });
  auto mapped = guarded(step::map, false, [&] {
    return tm.map(pgt, req.dim_host_for_tm, req.dim_port_for_tm, req.num_islands);
  });
  auto prepared = domain::prepare_physical_graph(mapped);
  if (!prepared)
    throw rest_submission_error(step::prepare, false, "prepare failed: " + prepared.error());
  if (prepared.value().empty() || !prepared.value().front().as_object().contains("oid")) {
    throw rest_submission_error(step::prepare, false,
                                "prepare failed: the physical graph has no drops");
  }
  rest_submit_result out;
  out.session_id = req.session_id;
  out.physical_graph = std::move(prepared.value());
  out.roots = domain::physical_graph_roots(out.physical_graph);
  out.manager_url = dim.base_url();
  out.session_status_url = dim.status_url(req.session_id);
  out.graph_status_url = dim.graph_status_url(req.session_id);

  // From here on the DIM may hold (and even run) the session whatever we observe.
  auto created =
      guarded(step::create_session, true, [&] { return dim.create_session(req.session_id); });
  out.session_already_existed = created == dim_client::create_outcome::already_existed;
  guarded(step::append_graph, true, [&] {
    dim.append_graph(req.session_id, out.physical_graph);
    return 0;
  });
  guarded(step::deploy, true, [&] {
    dim.deploy(req.session_id, out.roots);
    return 0;
  });
  return out;
}

}  // namespace beampipe::adapters
