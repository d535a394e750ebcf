// The live event feed: GET /events/stream (Server-Sent Events, live_feed.hpp) and the
// single-use tickets a browser's EventSource authenticates it with.
#include <cctype>
#include <climits>

#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/auth_tokens.hpp"
#include "api/handler_support.hpp"
#include "api/live_feed.hpp"
#include "api/route_table.hpp"
#include "store/event_store.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

constexpr size_t kMaxFilterBytes = 256;

std::string filter_param(const request& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return {};
  if (it->second.size() > kMaxFilterBytes)
    fail(400, "invalid_parameter", name + " is longer than 256 bytes", name);
  return it->second;  // parse_target refused control characters and invalid UTF-8
}

// Where the stream starts: Last-Event-ID (an EventSource reconnecting) or ?after=, a position
// of the store; neither: from now.
std::optional<int64_t> start_after(const request& req) {
  auto last = req.header("last-event-id");
  if (!last.empty()) {
    bool digits = last.size() <= 18 && std::all_of(last.begin(), last.end(), [](char c) {
                    return std::isdigit(static_cast<unsigned char>(c));
                  });
    if (!digits)
      fail(400, "invalid_parameter", "Last-Event-ID must be an event position", "Last-Event-ID");
    return std::stoll(last);
  }
  if (req.query.count("after")) return int_param(req, "after", 0, 0, INT64_MAX);
  return std::nullopt;
}

response event_stream(app_context& ctx, request& req) {
  if (!ctx.feed) fail(503, "unavailable", "this process serves no event stream");
  feed_filter filter;
  filter.superuser = req.user.superuser;
  filter.stream_id = filter_param(req, "stream_id");
  filter.stream_type = filter_param(req, "stream_type");
  filter.type = filter_param(req, "type");
  filter.project_module = filter_param(req, "project_module");
  auto after = start_after(req);
  events::read_position from;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    if (!after) {
      pqxx::read_transaction tx{c};
      from = store::fenced_tail(tx);
    } else {
      from = read_position_or_400(c, *after,
                                  req.header("last-event-id").empty() ? "after" : "Last-Event-ID");
    }
  });
  response head;
  head.content_type = "text/event-stream; charset=utf-8";
  head.headers.emplace_back("Cache-Control", "no-store");
  head.headers.emplace_back("X-Accel-Buffering", "no");  // a proxy must not hold it back
  throw deferred_stream{std::move(head), ctx.feed->open(std::move(filter), from)};
}

response post_stream_ticket(app_context& ctx, request& req) {
  if (req.user.session_family.empty())
    fail(403, "forbidden", "a stream ticket is issued to a signed-in user");
  auto t = issue_token(ctx.jwt_secret, token_type::stream, req.user.username,
                       req.user.session_family, ctx.stream_ticket_ttl, now_seconds());
  auto res = json_response(201, json::object{{"ticket", t.token},
                                             {"expires_in", ctx.stream_ticket_ttl.count()},
                                             {"stream", std::string(kApiV2) + "/events/stream"}});
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

}  // namespace

void add_stream_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  r.add("POST", v2 + "/events/stream-tickets", auth_level::user, bind(post_stream_ticket),
        operation("create_stream_ticket", "Ticket for an event stream", "provenance",
                  "A short-lived ticket that opens one event stream (GET /events/stream?ticket=) "
                  "as the signed-in user, for clients that cannot send an Authorization header "
                  "(a browser's EventSource). It works once and expires after a minute; an "
                  "access token never goes in a URL.")
            .returns("StreamTicket", 201)
            .fails({403}));
  auto stream_doc =
      operation("stream_events", "Live event stream", "provenance",
                "Server-Sent Events: each stored event (as in GET /events) as `data`, its "
                "position as the `id`. Starts after Last-Event-ID or ?after= (exactly: no gap, "
                "no repeat), else from now. A comment every 15 s keeps it open. A client that "
                "falls behind gets `event: overflow` with `resume_after` and is closed. Sign-ins "
                "and user accounts only for superusers.")
          .with_query(int_query("after", "Start after this position (0: from the first event)", 0,
                                std::nullopt, 0))
          .with_query(text_query("stream_id", "Only this stream"))
          .with_query(text_query("stream_type", "Only streams of this type"))
          .with_query(text_query("type", "Only events of this type"))
          .with_query(text_query("project_module", "Only events whose data names this project"))
          .with_query(text_query("ticket", "A stream ticket, instead of the Authorization header"))
          .with_ticket()
          .fails({503});
  stream_doc.reply = reply_kind::event_stream;
  param_doc last_id;
  last_id.name = "Last-Event-ID";
  last_id.type = "integer";
  last_id.description = "Resume after this position (sent by EventSource)";
  stream_doc.headers.push_back(std::move(last_id));
  r.add("GET", v2 + "/events/stream", auth_level::user, bind(event_stream), std::move(stream_doc));
}

}  // namespace beampipe::api
