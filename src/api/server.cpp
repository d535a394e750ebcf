#include "api/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <thread>

#include "util/ids.hpp"

namespace beampipe::api {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

std::string trim_lower(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::string out(v);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& s, const server_options& opts, server::dispatch_fn& dispatch,
          net::thread_pool& handlers, net::thread_pool* control)
      : stream_(std::move(s)),
        opts_(opts),
        dispatch_(dispatch),
        handlers_(handlers),
        control_(control) {}

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&session::read_header, shared_from_this()));
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts_.header_limit));
    parser_->body_limit(opts_.body_limit);
    stream_.expires_after(std::chrono::seconds(opts_.read_timeout_seconds));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return fail_read(ec);
    const auto& h = parser_->get();
    // Both framings at once is the classic request-smuggling vector: refuse it.
    if (h.find(http::field::content_length) != h.end() &&
        h.find(http::field::transfer_encoding) != h.end())
      return reply_and_close(
          error_response(400, "bad_request",
                         "a request must not carry both Content-Length and Transfer-Encoding"));
    // Only `chunked` alone is understood. Any other coding (identity, gzip, a list) would be
    // read as an empty body and its bytes as the next request: refuse it and close (RFC 9112
    // section 6.3).
    if (h.count(http::field::transfer_encoding) > 1 ||
        (h.find(http::field::transfer_encoding) != h.end() &&
         trim_lower(h[http::field::transfer_encoding]) != "chunked"))
      return reply_and_close(error_response(400, "bad_request",
                                            "unsupported Transfer-Encoding: only chunked is "
                                            "accepted",
                                            "Transfer-Encoding"));
    stream_.expires_after(std::chrono::seconds(opts_.read_timeout_seconds));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void fail_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    if (ec == http::error::header_limit)
      return reply_and_close(
          error_response(431, "header_too_large", "request header exceeds the limit"));
    if (ec == http::error::body_limit)
      return reply_and_close(
          error_response(413, "body_too_large", "request body exceeds the limit"));
    return reply_and_close(
        error_response(400, "bad_request", "malformed HTTP request: " + ec.message()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return fail_read(ec);
    auto msg = parser_->release();
    auto req = std::make_shared<request>();
    req->method = std::string(msg.method_string());
    req->target = std::string(msg.target());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto [it, fresh] = req->headers.try_emplace(name, std::string(f.value()));
      // Repeated X-Forwarded-For lines are one list (RFC 9110 section 5.3), in order: the rate
      // limiter reads it from the right. Other repeated fields keep their last value.
      if (!fresh) {
        if (name == "x-forwarded-for")
          it->second.append(", ").append(f.value());
        else
          it->second = std::string(f.value());
      }
    }
    req->body = std::move(msg.body());
    beast::error_code pec;
    auto ep = stream_.socket().remote_endpoint(pec);
    if (!pec) req->peer = ep.address().to_string();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    auto self = shared_from_this();
    auto path = std::string_view(req->target).substr(0, req->target.find('?'));
    bool control = control_ && std::find(opts_.control_paths.begin(), opts_.control_paths.end(),
                                         path) != opts_.control_paths.end();
    auto run = [self, req] {
      auto res = std::make_shared<response>(self->dispatch_(*req));
      res->headers.emplace_back("X-Correlation-Id", req->correlation_id);
      net::post(self->stream_.get_executor(),
                [self, res] { self->write(*res, !self->keep_alive_); });
    };
    if (control)
      net::post(*control_, std::move(run));
    else
      net::post(handlers_, std::move(run));
  }

  void reply_and_close(const response& r) {
    keep_alive_ = false;
    write(r, true);
  }

  void write(const response& r, bool close) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_ ? version_ : 11);
    res->set(http::field::server, "beampipe");
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = r.body;
    res->keep_alive(!close);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, close](beast::error_code ec, std::size_t) {
                        if (ec || close) {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          if (!ec) self->linger();
                          return;
                        }
                        self->read_header();
                      });
  }

  // Lingering close: after refusing a request whose body is still arriving, read and drop
  // what the client keeps sending (bounded in time and bytes) so the kernel does not answer
  // it with a reset that would destroy our response before the client reads it.
  void linger() {
    stream_.expires_after(std::chrono::seconds(2));
    discard_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (!ec && self->lingered_ < 16 * 1024 * 1024) self->linger();
                            });
  }

  beast::tcp_stream stream_;
  const server_options& opts_;
  server::dispatch_fn& dispatch_;
  net::thread_pool& handlers_;
  net::thread_pool* control_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  std::vector<char> discard_;
  std::size_t lingered_ = 0;
};

}  // namespace

struct server::impl {
  server_options opts;
  dispatch_fn dispatch;
  net::io_context ioc;
  net::thread_pool handlers;
  std::optional<net::thread_pool> control;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;

  impl(server_options o, dispatch_fn d)
      : opts(std::move(o)),
        dispatch(std::move(d)),
        ioc(static_cast<int>(opts.io_threads)),
        handlers(opts.handler_threads) {
    if (opts.control_threads > 0 && !opts.control_paths.empty())
      control.emplace(opts.control_threads);
  }

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted) return;
      if (!ec)
        std::make_shared<session>(std::move(s), opts, dispatch, handlers,
                                  control ? &*control : nullptr)
            ->run();
      accept();
    });
  }
};

server::server(server_options opts, dispatch_fn dispatch)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(dispatch))) {}

server::~server() { stop(); }

void server::start() {
  auto& a = impl_->opts.bind_addr;
  auto colon = a.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("bind address must be host:port, got '" + a + "'");
  std::string host = a.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    port = std::stoul(a.substr(colon + 1));
  } catch (...) {
    throw std::runtime_error("bad port in bind address '" + a + "'");
  }
  if (port > 65535) throw std::runtime_error("bad port in bind address '" + a + "'");
  beast::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("bad host in bind address '" + a + "': " + ec.message());
  tcp::endpoint ep{addr, static_cast<unsigned short>(port)};
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + a + ": " + ec.message());
  impl_->guard.emplace(impl_->ioc.get_executor());
  impl_->accept();
  for (size_t i = 0; i < impl_->opts.io_threads; ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void server::stop() {
  if (!impl_ || impl_->threads.empty()) return;
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->guard.reset();
  impl_->handlers.join();
  if (impl_->control) impl_->control->join();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

unsigned short server::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string server::url() const {
  auto ep = impl_->acceptor.local_endpoint();
  auto host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(ep.port());
}

}  // namespace beampipe::api
