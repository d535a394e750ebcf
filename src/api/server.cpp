#include "api/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <thread>

#include "util/host_port.hpp"
#include "util/ids.hpp"

namespace beampipe::api {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// Counts open connections. A session holds a slot from accept until it is destroyed; giving it
// back asks the accept loop (on its strand) whether to resume accepting.
struct connection_gate {
  std::atomic<size_t> open{0};
  std::atomic<bool> stopping{false};
  std::function<void()> released;  // posts the resume check to the accept strand
};

class connection_slot {
 public:
  explicit connection_slot(std::shared_ptr<connection_gate> g) : gate_(std::move(g)) {
    gate_->open.fetch_add(1);
  }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  ~connection_slot() {
    gate_->open.fetch_sub(1);
    if (!gate_->stopping.load()) gate_->released();
  }

 private:
  std::shared_ptr<connection_gate> gate_;
};

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
          net::thread_pool& handlers, net::thread_pool* control,
          std::shared_ptr<connection_gate> gate)
      : stream_(std::move(s)),
        opts_(opts),
        dispatch_(dispatch),
        handlers_(handlers),
        control_(control),
        slot_(std::move(gate)) {}

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
    auto ex = std::make_shared<session_exchange>(self, req);
    if (!control && opts_.try_inline && opts_.try_inline(req, ex)) return;
    auto run = [self, req, ex] { self->dispatch_(req, ex); };
    if (control)
      net::post(*control_, std::move(run));
    else
      net::post(handlers_, std::move(run));
  }

  // The request's way back to this connection (http.hpp).
  class session_exchange : public exchange {
   public:
    session_exchange(std::shared_ptr<session> s, std::shared_ptr<request> req)
        : session_(std::move(s)), req_(std::move(req)) {}
    void respond(response r) override {
      if (answered_.exchange(true)) return;
      auto res = std::make_shared<response>(std::move(r));
      res->headers.emplace_back("X-Correlation-Id", req_->correlation_id);
      auto self = session_;
      net::post(self->stream_.get_executor(),
                [self, res] { self->write(*res, !self->keep_alive_); });
    }
    void stream(response head, std::shared_ptr<stream_source> source) override {
      if (answered_.exchange(true)) return;
      head.headers.emplace_back("X-Correlation-Id", req_->correlation_id);
      auto self = session_;
      net::post(self->stream_.get_executor(),
                [self, head = std::move(head), source = std::move(source)]() mutable {
                  self->start_stream(std::move(head), std::move(source));
                });
    }
    void run(std::function<void()> work) override {
      net::post(session_->handlers_, std::move(work));
    }
    std::function<void()> at(std::chrono::steady_clock::time_point when,
                             std::function<void()> fn) override {
      auto strand = session_->stream_.get_executor();
      auto timer = std::make_shared<net::steady_timer>(strand, when);
      timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
        if (!ec) fn();
      });
      return [strand, timer] { net::post(strand, [timer] { timer->cancel(); }); };
    }

   private:
    std::shared_ptr<session> session_;
    std::shared_ptr<request> req_;
    std::atomic<bool> answered_{false};
  };

  // A streamed answer: the head, then the source's pieces one write at a time (chunked on
  // HTTP/1.1, delimited by the close on 1.0). A read left pending on the socket tells when the
  // client goes; a write that cannot finish within the write timeout drops the connection. The
  // session ends (and tells the source) when both are done.
  class stream_waker : public stream_sink {
   public:
    explicit stream_waker(std::weak_ptr<session> s) : session_(std::move(s)) {}
    void wake() override {
      if (auto s = session_.lock()) net::post(s->stream_.get_executor(), [s] { s->pull(); });
    }

   private:
    std::weak_ptr<session> session_;
  };

  void start_stream(response head, std::shared_ptr<stream_source> source) {
    source_ = std::move(source);
    chunked_ = version_ >= 11;
    // Keep what a slow reader has not taken in the source's bounded buffer, where it can be
    // told it fell behind, rather than in a kernel buffer that autotunes to megabytes.
    beast::error_code ignored;
    stream_.socket().set_option(net::socket_base::send_buffer_size(64 * 1024), ignored);
    auto res = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(head.status), version_ ? version_ : 11);
    res->set(http::field::server, "beampipe");
    if (!head.content_type.empty()) res->set(http::field::content_type, head.content_type);
    for (const auto& [k, v] : head.headers) res->set(k, v);
    res->keep_alive(false);
    if (chunked_) res->chunked(true);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    writing_ = true;
    stream_.expires_after(kStreamWriteTimeout);
    http::async_write_header(
        stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
          self->writing_ = false;
          if (ec) return self->drop_stream();
          self->watch_peer();
          self->source_->attached(std::make_shared<stream_waker>(self));
          self->pull();
        });
  }

  // The client sends nothing more; a read completing (EOF, reset, or stray bytes) ends it.
  void watch_peer() {
    peer_probe_.resize(512);
    stream_.socket().async_read_some(
        net::buffer(peer_probe_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec != net::error::operation_aborted) self->drop_stream();
        });
  }

  void pull() {
    if (writing_ || !source_ || stream_done_) return;
    auto p = source_->next();
    if (!p) return;
    writing_ = true;
    auto bytes = std::make_shared<std::string>(std::move(p->bytes));
    bool last = p->last;
    auto done = [self = shared_from_this(), bytes, last](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (ec) return self->drop_stream();
      if (last) return self->end_stream();
      self->pull();
    };
    stream_.expires_after(kStreamWriteTimeout);
    if (chunked_)
      net::async_write(stream_, http::make_chunk(net::buffer(*bytes)), std::move(done));
    else
      net::async_write(stream_, net::buffer(*bytes), std::move(done));
  }

  // The last piece is written: the closing chunk, then the connection goes.
  void end_stream() {
    if (!chunked_) return drop_stream();
    writing_ = true;
    net::async_write(stream_, http::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code, std::size_t) {
                       self->writing_ = false;
                       self->drop_stream();
                     });
  }

  void drop_stream() {
    if (stream_done_) return;
    stream_done_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
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
  connection_slot slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  std::vector<char> discard_;
  std::size_t lingered_ = 0;
  // A streamed answer (on the strand).
  std::shared_ptr<stream_source> source_;
  bool chunked_ = true, writing_ = false, stream_done_ = false;
  std::vector<char> peer_probe_;
  static constexpr std::chrono::seconds kStreamWriteTimeout{30};

 public:
  ~session() {
    if (source_) source_->closed();
  }
};

}  // namespace

struct server::impl {
  server_options opts;
  dispatch_fn dispatch;
  net::io_context ioc;
  net::thread_pool handlers;
  std::optional<net::thread_pool> control;
  net::strand<net::io_context::executor_type> accept_strand{net::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  net::steady_timer retry{accept_strand};
  std::shared_ptr<connection_gate> gate = std::make_shared<connection_gate>();
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;
  // The accept loop's state; touched only on accept_strand.
  size_t cap = 0;
  bool paused = false;  // at the cap: no accept outstanding until a connection closes
  std::chrono::milliseconds backoff{0};
  uint64_t failures = 0, unlogged_failures = 0, unlogged_pauses = 0;
  std::optional<std::chrono::steady_clock::time_point> failure_logged_at, pause_logged_at;
  static constexpr std::chrono::seconds kLogEvery{10};

  impl(server_options o, dispatch_fn d)
      : opts(std::move(o)),
        dispatch(std::move(d)),
        ioc(static_cast<int>(opts.io_threads)),
        handlers(opts.handler_threads) {
    if (opts.control_threads > 0 && !opts.control_paths.empty())
      control.emplace(opts.control_threads);
    gate->released = [this] { net::post(accept_strand, [this] { resume(); }); };
  }

  // One line now and then, not one per event: a loop failing every few milliseconds must not
  // flood the log. Returns true when a line is due (and resets the clock).
  static bool log_due(std::optional<std::chrono::steady_clock::time_point>& last) {
    auto now = std::chrono::steady_clock::now();
    if (last && now - *last < kLogEvery) return false;
    last = now;
    return true;
  }

  void accept() {
    if (gate->stopping.load()) return;
    if (gate->open.load() >= cap) {
      paused = true;
      ++unlogged_pauses;
      if (log_due(pause_logged_at)) {
        spdlog::warn(
            "HTTP server: {} connections open, the limit (BEAMPIPE_MAX_CONNECTIONS / open-file "
            "limit); not accepting until one closes ({} time(s) since the last report)",
            cap, unlogged_pauses);
        unlogged_pauses = 0;
      }
      return;
    }
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted || gate->stopping.load()) return;
      // A client that gave up before we accepted it: that one is gone, the next is fine.
      if (ec == net::error::connection_aborted) return accept();
      if (ec) return accept_failed(ec);
      if (failures > 0)
        spdlog::info("HTTP server: accepting again after {} failed accept(s)", failures);
      failures = unlogged_failures = 0;
      failure_logged_at.reset();
      backoff = std::chrono::milliseconds(0);
      std::make_shared<session>(std::move(s), opts, dispatch, handlers,
                                control ? &*control : nullptr, gate)
          ->run();
      accept();
    });
  }

  // EMFILE, ENFILE, ENOBUFS, ...: the pending connection stays queued, so accepting again at
  // once would fail again at once (a busy loop). Wait, 50 ms doubling to 1 s.
  void accept_failed(const beast::error_code& ec) {
    ++failures;
    ++unlogged_failures;
    backoff =
        std::clamp(backoff * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    if (log_due(failure_logged_at)) {
      spdlog::warn(
          "HTTP server: accept failed: {} ({} time(s) since the last report, {} open "
          "connections); retrying in {} ms",
          ec.message(), unlogged_failures, gate->open.load(), backoff.count());
      unlogged_failures = 0;
    }
    retry.expires_after(backoff);
    retry.async_wait([this](beast::error_code wec) {
      if (!wec) accept();
    });
  }

  // A connection closed: below the cap again, resume a paused accept loop.
  void resume() {
    if (!paused || gate->stopping.load() || gate->open.load() >= cap) return;
    paused = false;
    accept();
  }
};

size_t effective_connection_cap(size_t max_connections, unsigned long long nofile_limit) {
  size_t cap = std::max<size_t>(1, max_connections);
  if (nofile_limit == static_cast<unsigned long long>(RLIM_INFINITY)) return cap;
  auto usable = nofile_limit > kFdReserve ? nofile_limit - kFdReserve : 1;
  return std::max<size_t>(1, std::min<unsigned long long>(cap, usable));
}

server::server(server_options opts, dispatch_fn dispatch)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(dispatch))) {}

server::server(server_options opts, std::function<response(request&)> answer)
    : server(std::move(opts), [answer = std::move(answer)](std::shared_ptr<request> req,
                                                           std::shared_ptr<exchange> ex) {
        ex->respond(answer(*req));
      }) {}

server::~server() { stop(); }

void server::start() {
  auto& a = impl_->opts.bind_addr;
  auto hp = util::split_host_port(a);
  if (!hp) throw std::runtime_error("bind address must be host:port, got '" + a + "'");
  beast::error_code ec;
  auto addr = net::ip::make_address(hp->host, ec);
  if (ec) throw std::runtime_error("bad host in bind address '" + a + "': " + ec.message());
  tcp::endpoint ep{addr, hp->port};
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + a + ": " + ec.message());
  rlimit nofile{};
  unsigned long long limit = RLIM_INFINITY;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) limit = nofile.rlim_cur;
  impl_->cap = effective_connection_cap(impl_->opts.max_connections, limit);
  if (impl_->cap < impl_->opts.max_connections)
    spdlog::warn(
        "HTTP server on {}: at most {} connections (the open-file limit {} minus {} kept for the "
        "database, files and SSH; BEAMPIPE_MAX_CONNECTIONS is {})",
        a, impl_->cap, limit, kFdReserve, impl_->opts.max_connections);
  impl_->guard.emplace(impl_->ioc.get_executor());
  impl_->accept();
  for (size_t i = 0; i < impl_->opts.io_threads; ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void server::stop() {
  if (!impl_ || impl_->threads.empty()) return;
  net::post(impl_->accept_strand, [this] {
    impl_->gate->stopping = true;
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->retry.cancel();
  });
  impl_->guard.reset();
  impl_->handlers.join();
  if (impl_->control) impl_->control->join();
  impl_->gate->stopping = true;
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
