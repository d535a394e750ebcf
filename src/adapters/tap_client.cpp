#include "adapters/tap_client.hpp"

#include <expat.h>

#include <algorithm>
#include <cctype>
#include <thread>

namespace beampipe::adapters {

using clock = std::chrono::steady_clock;
using tkind = tap_error::kind;

namespace {

std::string_view local_name(const XML_Char* name) {
  std::string_view n(name);
  auto colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

std::string_view trim(std::string_view s) {
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool looks_like_xml(std::string_view body) {
  body = trim(body);
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  return body.starts_with("<");
}

std::string snippet(std::string_view body, std::size_t n = 300) {
  std::string s(trim(body).substr(0, n));
  for (auto& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

// Services say "busy" in 400 answers and error documents; those are worth a retry later.
bool overload_text(std::string_view message) {
  auto m = lower(message);
  for (auto t : {"tap service too busy", "no connection available", "unable to check the adql query",
                 "temporarily unavailable"}) {
    if (m.find(t) != std::string::npos) return true;
  }
  return false;
}

tap_error from_http(const http_error& e) {
  switch (e.code()) {
    case http_error::kind::invalid_url: case http_error::kind::too_large: case http_error::kind::protocol:
      return tap_error(tkind::bad_response, e.what(), false);
    case http_error::kind::tls:
      return tap_error(tkind::transport, e.what(), false);  // a certificate problem needs an operator
    default:
      return tap_error(tkind::transport, e.what(), e.transient());
  }
}

template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const http_error& e) {
    throw from_http(e);
  }
}

std::string strip_base(std::string_view url) {
  std::string b(trim(url));
  while (!b.empty() && b.back() == '/') b.pop_back();
  for (std::string_view suffix : {"/sync", "/async"}) {
    if (b.size() > suffix.size() && b.ends_with(suffix)) b.resize(b.size() - suffix.size());
  }
  return b;
}

struct uws_reader {
  uws_job job;
  std::string text;
  std::string_view collecting;
  bool root_seen = false;
  bool root_ok = false;
  bool in_error_summary = false;
  bool bad = false;
};

void XMLCALL uws_start(void* ud, const XML_Char* name, const XML_Char** attrs) {
  auto* r = static_cast<uws_reader*>(ud);
  auto n = local_name(name);
  if (!r->root_seen) {
    r->root_seen = true;
    r->root_ok = n == "job";
  }
  if (n == "jobId" || n == "phase" || (n == "message" && r->in_error_summary)) {
    r->collecting = n == "jobId" ? "jobId" : n == "phase" ? "phase" : "message";
    r->text.clear();
  } else if (n == "errorSummary") {
    r->in_error_summary = true;
  } else if (n == "result") {
    uws_job::result res;
    for (auto a = attrs; *a; a += 2) {
      auto k = local_name(a[0]);
      if (k == "id") res.id = a[1];
      else if (k == "href") res.href = a[1];  // expat has already unescaped &amp;
    }
    r->job.results.push_back(std::move(res));
  }
}

void XMLCALL uws_end(void* ud, const XML_Char* name) {
  auto* r = static_cast<uws_reader*>(ud);
  auto n = local_name(name);
  if (!r->collecting.empty() && n == r->collecting) {
    auto value = std::string(trim(r->text));
    if (n == "jobId") r->job.job_id = value;
    else if (n == "phase") r->job.phase = value;
    else r->job.error_message = value;
    r->collecting = {};
  } else if (n == "errorSummary") {
    r->in_error_summary = false;
  }
}

void XMLCALL uws_text(void* ud, const XML_Char* s, int len) {
  auto* r = static_cast<uws_reader*>(ud);
  if (!r->collecting.empty() && r->text.size() < 65536) r->text.append(s, static_cast<std::size_t>(len));
}

void XMLCALL uws_entity(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*, const XML_Char*,
                        const XML_Char*, const XML_Char*) {
  auto* r = static_cast<uws_reader*>(ud);
  r->bad = true;
}

}  // namespace

uws_job parse_uws_job(std::string_view xml) {
  if (xml.size() > (std::size_t{16} << 20)) throw tap_error(tkind::bad_response, "UWS job document too large", false);
  uws_reader r;
  XML_Parser p = XML_ParserCreate(nullptr);
  if (!p) throw tap_error(tkind::bad_response, "cannot allocate the XML parser", false);
  XML_SetUserData(p, &r);
  XML_SetElementHandler(p, uws_start, uws_end);
  XML_SetCharacterDataHandler(p, uws_text);
  XML_SetEntityDeclHandler(p, uws_entity);
  auto status = XML_Parse(p, xml.data(), static_cast<int>(xml.size()), XML_TRUE);
  std::string err = status == XML_STATUS_OK ? "" : XML_ErrorString(XML_GetErrorCode(p));
  XML_ParserFree(p);
  if (r.bad) throw tap_error(tkind::bad_response, "UWS job document declares entities", false);
  if (!err.empty()) throw tap_error(tkind::bad_response, "UWS job document is not well-formed XML: " + err, false);
  if (!r.root_ok) throw tap_error(tkind::bad_response, "not a UWS job document: " + snippet(xml, 120), false);
  if (r.job.phase.empty()) throw tap_error(tkind::bad_response, "UWS job document without a phase", false);
  return r.job;
}

std::string adql_string_literal(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += "''";
    else out.push_back(c);
  }
  out += "'";
  return out;
}

tap_client::tap_client(tap_options options)
    : options_(std::move(options)), base_(strip_base(options_.base_url)), http_(options_.http) {
  (void)parse_url(base_);  // fail early on a bad base URL
}

std::vector<std::pair<std::string, std::string>> tap_client::query_fields(std::string_view adql) const {
  std::vector<std::pair<std::string, std::string>> f{
      {"REQUEST", "doQuery"}, {"LANG", "ADQL"}, {"QUERY", std::string(adql)}};
  if (options_.response_format) f.emplace_back("RESPONSEFORMAT", *options_.response_format);
  if (options_.maxrec) f.emplace_back("MAXREC", std::to_string(*options_.maxrec));
  return f;
}

votable_result tap_client::read_result(const http_response& response) const {
  const auto where = util::redact_url(response.url);
  if (!looks_like_xml(response.body)) {
    if (response.status == 429 || response.status >= 500) {
      throw tap_error(tkind::transport, "HTTP " + std::to_string(response.status) + " from " + where, true);
    }
    if (!response.ok()) {
      auto text = snippet(response.body);
      throw tap_error(overload_text(text) ? tkind::transport : tkind::query,
                      "HTTP " + std::to_string(response.status) + " from " + where + (text.empty() ? "" : ": " + text),
                      overload_text(text));
    }
    throw tap_error(tkind::bad_response,
                    "answer from " + where + " is not a VOTable (content-type '" + response.header("content-type") +
                        "'): " + snippet(response.body, 120),
                    false);
  }
  try {
    auto result = parse_votable(response.body, options_.limits);
    if (!response.ok() && result.query_status.empty()) {
      throw tap_error(response.status >= 500 ? tkind::transport : tkind::bad_response,
                      "HTTP " + std::to_string(response.status) + " from " + where + " without QUERY_STATUS",
                      response.status >= 500);
    }
    return result;
  } catch (const votable_error& e) {
    using vk = votable_error::kind;
    if (e.code() == vk::query_error) {
      bool busy = overload_text(e.what());
      throw tap_error(busy ? tkind::transport : tkind::query, std::string("TAP query failed: ") + e.what(), busy);
    }
    if (!response.ok()) {
      bool transient = response.status == 429 || response.status >= 500;
      throw tap_error(transient ? tkind::transport : tkind::bad_response,
                      "HTTP " + std::to_string(response.status) + " from " + where + ": " + snippet(response.body),
                      transient);
    }
    throw tap_error(tkind::bad_response, std::string("unreadable VOTable from ") + where + ": " + e.what(), false);
  }
}

votable_result tap_client::query_sync(std::string_view adql) const {
  return guarded([&] {
    auto response = http_.post_form(base_ + "/sync", query_fields(adql));
    auto location = response.header("location");
    if (response.status >= 301 && response.status <= 308 && !location.empty()) {
      // DALI allows a sync endpoint to redirect; the result is then fetched with GET.
      response = http_.get(resolve_url(response.url, location));
    }
    return read_result(response);
  });
}

std::string tap_client::job_error_message(const std::string& job_url, const uws_job& job) const {
  try {
    auto response = http_.get(job_url + "/error");
    if (response.ok() && !trim(response.body).empty()) {
      if (looks_like_xml(response.body)) {
        try {
          (void)parse_votable(response.body, options_.limits);
        } catch (const votable_error& e) {
          if (e.code() == votable_error::kind::query_error) return e.what();
        }
      } else {
        return snippet(response.body, 2000);
      }
    }
  } catch (const http_error&) {
    // fall back to the summary in the job document
  }
  if (!job.error_message.empty()) return job.error_message;
  return "job ended in phase " + job.phase + " without an error message";
}

void tap_client::delete_job(const std::string& job_url) const noexcept {
  if (!options_.delete_jobs) return;
  try {
    http_request r;
    r.method = "POST";
    r.url = job_url;
    r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    r.body = form_encode({{"ACTION", "DELETE"}});
    r.follow_redirects = false;
    r.read_timeout = std::chrono::seconds(30);
    (void)http_.send(r);
  } catch (...) {
    // Best effort: the service destroys jobs after their destruction time anyway.
  }
}

votable_result tap_client::query_async(std::string_view adql) const {
  const auto deadline = clock::now() + options_.async_deadline;
  std::string job_url = guarded([&] {
    auto created = http_.post_form(base_ + "/async", query_fields(adql));
    auto location = created.header("location");
    if (created.status >= 300 && created.status < 400 && !location.empty()) {
      return resolve_url(created.url, location);
    }
    if (created.ok() && looks_like_xml(created.body)) {
      // Some services answer the creating POST with the job document itself.
      try {
        auto job = parse_uws_job(created.body);
        if (!job.job_id.empty()) return base_ + "/async/" + job.job_id;
      } catch (const tap_error&) {
        (void)read_result(created);  // an error VOTable explains why no job was made
      }
    }
    if (looks_like_xml(created.body)) (void)read_result(created);
    throw tap_error(tkind::bad_response,
                    "creating the async job at " + util::redact_url(base_ + "/async") + " answered HTTP " +
                        std::to_string(created.status) + " without a job Location",
                    created.status >= 500);
  });

  if (options_.on_job_created) options_.on_job_created(job_url);
  try {
    auto run = [&] {
      auto r = http_.post_form(job_url + "/phase", {{"PHASE", "RUN"}});
      if (r.status >= 400) {
        throw tap_error(tkind::bad_response,
                        "starting job " + util::redact_url(job_url) + " answered HTTP " + std::to_string(r.status) + ": " +
                            snippet(r.body),
                        r.status >= 500);
      }
    };
    guarded([&] { run(); });

    auto pause = options_.poll_initial;
    bool rerun = false;
    uws_job job;
    while (true) {
      auto remaining = std::chrono::duration_cast<std::chrono::seconds>(deadline - clock::now());
      if (clock::now() >= deadline) {
        try {
          (void)http_.post_form(job_url + "/phase", {{"PHASE", "ABORT"}});
        } catch (const http_error&) {
          // best effort: the deadline is the error to report
        }
        throw tap_error(tkind::deadline,
                        "async job " + util::redact_url(job_url) + " did not finish within " +
                            std::to_string(options_.async_deadline.count()) + " ms (last phase " + job.phase + ")",
                        true);
      }
      auto wait = std::clamp(remaining, std::chrono::seconds(0), options_.wait_seconds);
      job = guarded([&] {
        http_request poll;
        poll.url = job_url + "?WAIT=" + std::to_string(wait.count());
        poll.read_timeout = wait + std::chrono::seconds(30);  // the server holds the answer up to WAIT
        auto r = http_.send(poll);
        if (r.status == 404) throw tap_error(tkind::job_failed, "async job " + util::redact_url(job_url) + " vanished", true);
        r.expect_ok();
        return parse_uws_job(r.body);
      });
      const auto& ph = job.phase;
      if (ph == "COMPLETED") break;
      if (ph == "ERROR") {
        auto message = job_error_message(job_url, job);
        throw tap_error(tkind::job_failed, "TAP async job failed: " + message, overload_text(message));
      }
      if (ph == "ABORTED") throw tap_error(tkind::job_failed, "TAP async job was aborted by the service", true);
      if (ph == "ARCHIVED") throw tap_error(tkind::job_failed, "TAP async job was archived before its result was read", true);
      if (ph == "HELD" || (ph == "PENDING" && !rerun)) {
        // HELD asks the client to start it again; a PENDING job may have missed our RUN.
        rerun = ph == "PENDING";
        guarded([&] { run(); });
      }
      auto left = deadline - clock::now();
      if (left <= clock::duration::zero()) continue;
      std::this_thread::sleep_for(std::min<clock::duration>(pause, left));
      pause = std::min(pause * 2, options_.poll_max);
    }

    std::string result_url = job_url + "/results/result";
    if (!job.results.empty()) {
      auto it = std::find_if(job.results.begin(), job.results.end(), [](auto& r) { return r.id == "result"; });
      const auto& chosen = it != job.results.end() ? *it : job.results.front();
      if (!chosen.href.empty()) result_url = resolve_url(job_url, chosen.href);
    }
    auto result = guarded([&] { return read_result(http_.get(result_url)); });
    delete_job(job_url);
    return result;
  } catch (...) {
    delete_job(job_url);
    throw;
  }
}

tap_health tap_client::health(std::chrono::milliseconds timeout) const {
  auto opts = options_.http;
  opts.connect_timeout = std::min(opts.connect_timeout, timeout);
  opts.read_timeout = timeout;
  opts.max_attempts = 1;
  http_client probe(opts);
  tap_health h;
  auto started = clock::now();
  auto done = [&](bool ok, std::string detail) {
    h.available = ok;
    h.detail = std::move(detail);
    h.latency = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    return h;
  };
  try {
    auto r = probe.get(base_ + "/availability");
    if (r.ok() && looks_like_xml(r.body)) {
      // VOSI: <vosi:availability><vosi:available>true</vosi:available><vosi:note>…</vosi:note>
      auto text_of = [&](std::string_view tag) -> std::string {
        auto open = r.body.find(":" + std::string(tag) + ">");
        if (open == std::string::npos) open = r.body.find("<" + std::string(tag) + ">");
        if (open == std::string::npos) return {};
        auto start = r.body.find('>', open) + 1;
        auto end = r.body.find('<', start);
        return std::string(trim(std::string_view(r.body).substr(start, end - start)));
      };
      auto available = text_of("available");
      if (!available.empty()) {
        auto note = text_of("note");
        return done(available == "true", note.empty() ? "availability: " + available : note);
      }
    }
  } catch (const http_error& e) {
    if (e.code() != http_error::kind::http_status) return done(false, e.what());
  }
  // No VOSI availability: a query that returns no rows proves the service answers ADQL.
  try {
    auto r = probe.post_form(base_ + "/sync", {{"REQUEST", "doQuery"},
                                                {"LANG", "ADQL"},
                                                {"MAXREC", "0"},
                                                {"QUERY", "SELECT TOP 1 table_name FROM TAP_SCHEMA.tables"}});
    (void)read_result(r);
    return done(true, "query ok");
  } catch (const std::exception& e) {
    return done(false, e.what());
  }
}

}  // namespace beampipe::adapters
