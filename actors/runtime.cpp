#include "actors/runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <future>
#include <mutex>
#include <set>

#include "actors/protocol.hpp"
#include "actors/tls_error_queue.hpp"
#include "util/host_port.hpp"
#include "util/input_rules.hpp"

// OpenSSL after CAF: its macros must not reach CAF's headers.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace beampipe::actors {

namespace {
std::string ssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "no detail" : out;
}

// Loads the files the way caf::openssl will, before it does: CAF raises from its network thread
// when a file is bad (which ends the process), so a bad file must stop the start here, with its
// name. The node's own certificate must also chain to the CA file: the members check it against
// theirs, which is the same CA in a working cluster.
void check_tls_files(const runtime_options::tls_files& t) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("OpenSSL cannot make a TLS context: " + ssl_errors());
  // An encrypted key would make OpenSSL prompt on the terminal; refuse it instead.
  SSL_CTX_set_default_passwd_cb(ctx.get(), [](char*, int, int, void*) { return 0; });
  auto fail = [](const std::string& what) -> void {
    throw std::runtime_error(what + " (" + ssl_errors() + ")");
  };
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), t.cert.c_str()) != 1)
    fail("BEAMPIPE_CLUSTER_TLS_CERT " + t.cert + " is not a readable PEM certificate");
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), t.key.c_str(), SSL_FILETYPE_PEM) != 1)
    fail("BEAMPIPE_CLUSTER_TLS_KEY " + t.key +
         " is not an unencrypted PEM private key readable here, or not the key of " + t.cert);
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    fail("BEAMPIPE_CLUSTER_TLS_KEY " + t.key + " is not the key of " + t.cert);
  if (SSL_CTX_load_verify_locations(ctx.get(), t.ca.c_str(), nullptr) != 1)
    fail("BEAMPIPE_CLUSTER_TLS_CA " + t.ca + " holds no readable PEM CA certificate");
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx.get(), &chain);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> check(X509_STORE_CTX_new(),
                                                                        X509_STORE_CTX_free);
  if (!check || X509_STORE_CTX_init(check.get(), SSL_CTX_get_cert_store(ctx.get()),
                                    SSL_CTX_get0_certificate(ctx.get()), chain) != 1)
    fail("OpenSSL cannot check " + t.cert);
  if (X509_verify_cert(check.get()) != 1)
    throw std::runtime_error("BEAMPIPE_CLUSTER_TLS_CERT " + t.cert +
                             " does not chain to BEAMPIPE_CLUSTER_TLS_CA " + t.ca + ": " +
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(check.get())) +
                             " (the other members would refuse it)");
}
}  // namespace

caf::error make_error(command_errc code, const command_reply& r) {
  return caf::error(static_cast<uint8_t>(code), kCommandErrorCategory,
                    caf::make_message(r.code, r.message, r.field, r.details_json, r.stream_id,
                                      r.version, r.position, r.not_applied));
}

caf::error command_error_of(const command_reply& r) {
  // An ok() reply is no error: counted as failed, so a caller never reads it as applied.
  return make_error(r.ok() ? command_errc::failed : static_cast<command_errc>(r.result), r);
}

command_reply reply_of(const caf::error& e) {
  command_reply r;
  if (e.category() == kCommandErrorCategory &&
      e.context()
          .match_elements<std::string, std::string, std::string, std::string, std::string, int64_t,
                          int64_t, bool>()) {
    const auto& m = e.context();
    auto code = e.code();
    r.result = code >= static_cast<uint8_t>(command_errc::invalid) &&
                       code <= static_cast<uint8_t>(command_errc::failed)
                   ? static_cast<outcome>(code)
                   : outcome::failed;
    r.code = m.get_as<std::string>(0);
    r.message = m.get_as<std::string>(1);
    r.field = m.get_as<std::string>(2);
    r.details_json = m.get_as<std::string>(3);
    r.stream_id = m.get_as<std::string>(4);
    r.version = m.get_as<int64_t>(5);
    r.position = m.get_as<int64_t>(6);
    r.not_applied = m.get_as<bool>(7);
    return r;
  }
  // CAF's own: the deadline passed, or the registry stopped.
  if (e == caf::sec::request_timeout) return timed_out_reply();
  r.result = outcome::failed;
  r.code = "command_dropped";
  r.message = "the command was dropped before completion (" + caf::to_string(e) + ")";
  return r;
}

std::string render_command_error(uint8_t code, caf::atom_value, const caf::message& context) {
  return "command_error(" + std::to_string(code) + ", " + caf::to_string(context) + ")";
}

struct runtime::impl {
  runtime_options opts;
  store::connection_pool& pool;
  store::group_appender appender;
  boost::asio::thread_pool blocking;
  caf::actor_system_config cfg;
  // Before sys: an actor's attached cleanup (the live counts) runs after await_all_actors_done()
  // returns, until sys's destructor has joined the scheduler's threads.
  shared_ctx ctx;
  std::unique_ptr<caf::actor_system> sys;
  runtime::placement_function placement;  // set before the first command, then only read
  struct peer {
    std::string addr;
    registry_actor registry;
  };
  std::mutex peers_mu;  // guards peers and connecting
  std::map<std::string, peer> peers;
  std::set<std::string> connecting;
  std::atomic<size_t> forwarded{0}, move_waits{0};
  std::function<void(double)> forwarded_in;  // set before the first command, then only read
  registry_actor registry;
  bool stopped = false;

  impl(store::database& db, runtime_options o)
      : opts(o),
        pool(db.pool(store::db_role::aggregates)),
        appender(db, 512, o.append_writers),
        blocking(o.blocking_threads) {
    cfg.set("scheduler.max-threads", o.caf_threads);
    cfg.add_error_category(kCommandErrorCategory, render_command_error);
    cfg.add_message_type<command_request>("beampipe::command_request");
    cfg.add_message_type<command_reply>("beampipe::command_reply");
    if (!o.cluster_addr.empty()) {
      cfg.load<caf::io::middleman>();
      // A frozen or cut-off peer is only noticed through heartbeats (off by default).
      cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
      cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(5)});
      cfg.set("middleman.app-identifiers", std::vector<std::string>{"beampipe-cluster-v1"});
      if (o.cluster_tls.enabled()) {
        if (!tls_error_queue_cleared()) throw std::logic_error("TLS error queue guard missing");
        check_tls_files(o.cluster_tls);
        // Set, they make CAF require and verify a certificate on both sides of a connection.
        cfg.openssl_certificate = o.cluster_tls.cert;
        cfg.openssl_key = o.cluster_tls.key;
        cfg.openssl_cafile = o.cluster_tls.ca;
        cfg.load<caf::openssl::manager>();
      }
    }
    sys = std::make_unique<caf::actor_system>(cfg);
    ctx.opts = o;
    ctx.append = [this](store::append_request req, store::group_appender::callback cb) {
      if (placement) {
        std::string holder;
        req.fence = placement(req.stream_id, holder);
        if (!req.fence) {
          store::append_result r;
          r.status = store::append_status::error;
          r.error_code = store::store_errc::fenced;
          r.message = "this node does not hold the shard of " + req.stream_id +
                      (holder.empty() ? std::string(" (it is moving)") : " (" + holder + " does)");
          cb(std::move(r));
          return;
        }
      }
      appender.submit(std::move(req), std::move(cb));
    };
    ctx.pool = &pool;
    ctx.blocking = &blocking;
    ctx.peer_hello = [this](const std::string& node, const std::string& addr,
                            caf::strong_actor_ptr ptr) { hello(node, addr, std::move(ptr)); };
    registry = spawn_registry(*sys, &ctx);
    if (!o.cluster_addr.empty()) {
      auto hp = util::split_host_port(o.cluster_addr);
      if (!hp)
        throw std::runtime_error("BEAMPIPE_CLUSTER_BIND_ADDR must be host:port, got '" +
                                 o.cluster_addr + "'");
      auto bound = o.cluster_tls.enabled()
                       ? caf::openssl::publish(registry, hp->port, hp->host.c_str(), true)
                       : sys->middleman().publish(registry, hp->port, hp->host.c_str(), true);
      if (!bound)
        throw std::runtime_error("cannot listen on the cluster address " + o.cluster_addr + ": " +
                                 sys->render(bound.error()));
    }
  }

  // Connects to a member without blocking anyone: an actor asks the middleman (or, over TLS, the
  // openssl manager, whose handshake checks both certificates) with a deadline, checks what is
  // published there, introduces this node's registry and records the member's. A member that
  // does not answer is tried again next round.
  void connect(const std::string& node, const std::string& addr, const std::string& host,
               uint16_t port, std::chrono::milliseconds timeout) {
    auto connector = opts.cluster_tls.enabled() ? sys->openssl_manager().actor_handle()
                                                : sys->middleman().actor_handle();
    auto want = sys->message_types<registry_actor>();
    sys->spawn(
        [this, node, addr, host, port, timeout, want](caf::event_based_actor* self,
                                                      caf::io::middleman_actor mm) {
          auto fail = [this, node, addr](const std::string& why) {
            spdlog::warn("cluster: cannot reach {} at {}: {}", node, addr, why);
            std::lock_guard lk(peers_mu);
            connecting.erase(node);
          };
          self->request(mm, timeout, caf::connect_atom::value, host, port)
              .then(
                  [this, self, node, addr, want, fail](const caf::node_id&,
                                                       caf::strong_actor_ptr& ptr,
                                                       const std::set<std::string>& ifs) {
                    if (!ptr) return fail("nothing is published there");
                    if (!std::includes(ifs.begin(), ifs.end(), want.begin(), want.end()))
                      return fail("it is not a beampipe registry of this version");
                    auto remote = caf::actor_cast<registry_actor>(std::move(ptr));
                    self->send(remote, hello_atom::value, opts.node_id, opts.cluster_addr,
                               caf::actor_cast<caf::strong_actor_ptr>(registry));
                    {
                      std::lock_guard lk(peers_mu);
                      connecting.erase(node);
                      peers[node] = {addr, remote};
                    }
                    spdlog::info("cluster: connected to {} at {}{}", node, addr,
                                 opts.cluster_tls.enabled() ? " over TLS" : "");
                    watch(self, node, remote);
                  },
                  [this, fail](caf::error& e) { fail(sys->render(e)); });
        },
        connector);
  }

  // A member that opened the connection introduced its registry.
  void hello(const std::string& node, const std::string& addr, caf::strong_actor_ptr ptr) {
    // Bytes from the network: never into a log line or the peer table unless they are a node id
    // and a host:port.
    if (node.empty() || node.size() > 200 || util::text_problem(node) || addr.size() > 300 ||
        util::text_problem(addr) || !util::split_host_port(addr)) {
      spdlog::warn("cluster: ignored an introduction with a malformed node id or address");
      return;
    }
    auto remote = caf::actor_cast<registry_actor>(std::move(ptr));
    {
      std::lock_guard lk(peers_mu);
      peers[node] = {addr, remote};
    }
    spdlog::info("cluster: {} at {} connected here{}", node, addr,
                 opts.cluster_tls.enabled() ? " over TLS" : "");
    sys->spawn([this, node, remote](caf::event_based_actor* self,
                                    registry_actor) { watch(self, node, remote); },
               registry);
  }

  // `self` stays until the member's registry is unreachable (its connection closed: a crash, a
  // heartbeat timeout, a broken connection), then forgets it, so the next round connects again;
  // or until this node's registry stops.
  void watch(caf::event_based_actor* self, const std::string& node, registry_actor remote) {
    self->monitor(remote);
    self->monitor(registry);
    self->set_down_handler([this, self, node, remote](caf::down_msg& dm) {
      if (dm.source == remote.address()) {
        std::lock_guard lk(peers_mu);
        if (auto it = peers.find(node); it != peers.end() && it->second.registry == remote) {
          peers.erase(it);
          spdlog::warn("cluster: lost the connection to {} ({})", node, to_string(dm.reason));
        }
      }
      self->quit();
    });
    // Something to wait on: without a behavior, the actor would end at once.
    self->become([self](stop_atom) { self->quit(); });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    caf::anon_send(registry, stop_atom::value);
    sys->await_all_actors_done();
    blocking.join();
    appender.stop();
  }
};

runtime::runtime(store::database& db, runtime_options opts)
    : impl_(std::make_unique<impl>(db, std::move(opts))) {}
runtime::~runtime() { shutdown(); }
void runtime::set_placement(placement_function f) { impl_->placement = std::move(f); }
bool runtime::clustered() const { return static_cast<bool>(impl_->placement); }
bool runtime::holds(const std::string& stream_id) const {
  std::string holder;
  return !impl_->placement || impl_->placement(stream_id, holder).has_value();
}
void runtime::on_forwarded(std::function<void(double)> f) { impl_->forwarded_in = std::move(f); }
void runtime::shutdown() {
  if (impl_) impl_->stop();
}

namespace {
// A command this node cannot place now: another member holds its shard and cannot be reached
// (or the shard is moving); worth trying again (503 with Retry-After). `sent`: it went to a
// member that did not answer, so it may have been applied there.
command_reply shard_moved(const std::string& stream_id, std::string message, bool sent = false) {
  command_reply r;
  r.result = outcome::unavailable;
  r.code = "shard_moved";
  r.message = std::move(message);
  r.stream_id = stream_id;
  r.not_applied = !sent;
  return r;
}
}  // namespace

size_t runtime::set_peers(const std::map<std::string, std::string>& members,
                          std::chrono::milliseconds timeout, bool connect_all) {
  auto& i = *impl_;
  if (i.opts.cluster_addr.empty()) return 0;
  std::lock_guard lk(i.peers_mu);
  for (auto it = i.peers.begin(); it != i.peers.end();) {
    auto m = members.find(it->first);
    it = m == members.end() || m->second != it->second.addr ? i.peers.erase(it) : std::next(it);
  }
  for (const auto& [node, addr] : members) {
    // One connection per pair of members: the smaller id opens it (a joining node opens one to
    // every member), and introduces its own registry over it.
    if (node == i.opts.node_id || i.peers.count(node) || i.connecting.count(node)) continue;
    if (!connect_all && !(i.opts.node_id < node)) continue;
    // Written by another process: a malformed one is skipped, never fatal to the round.
    auto hp = util::split_host_port(addr);
    if (!hp) {
      spdlog::warn("cluster: {} gives no usable address", node);
      continue;
    }
    i.connecting.insert(node);
    i.connect(node, addr, hp->host, hp->port, timeout);
  }
  return i.peers.size();
}

namespace {
using clock = std::chrono::steady_clock;
constexpr auto kPlacementPoll = std::chrono::milliseconds(50);

// Where a command goes now: this node's registry, a member's, or nowhere yet (its shard is
// moving, or its holder is not connected).
struct route {
  std::optional<registry_actor> peer;  // set: forward to `holder`
  std::string holder;
  bool wait = false;
};
}  // namespace

void runtime::send(command_request req, std::function<void(command_reply)> done,
                   std::chrono::milliseconds deadline) {
  auto& i = *impl_;
  auto route_of = [&i](const std::string& stream) {
    route r;
    if (!i.placement || i.placement(stream, r.holder)) return r;
    if (r.holder.empty()) {
      r.wait = true;
      return r;
    }
    std::lock_guard lk(i.peers_mu);
    if (auto it = i.peers.find(r.holder); it != i.peers.end())
      r.peer = it->second.registry;
    else
      r.wait = true;
    return r;
  };
  auto dispatch = [&i](command_request req, std::function<void(command_reply)> done,
                       std::chrono::milliseconds deadline, route r) {
    if (r.peer) {
      // A stream of a shard another member holds goes to that member's registry (issue #23).
      ++i.forwarded;
      i.sys->spawn(
          [req = std::move(req), done = std::move(done), deadline, holder = r.holder,
           seen = i.forwarded_in](caf::event_based_actor* self, registry_actor remote) mutable {
            auto stream = req.stream_id;
            auto t0 = clock::now();
            self->request(remote, deadline, cmd_atom::value, std::move(req))
                .then(
                    [done, seen, t0](command_reply& r) {
                      if (seen) seen(std::chrono::duration<double>(clock::now() - t0).count());
                      done(std::move(r));
                    },
                    [done, holder, stream](caf::error& e) {
                      // The peer went away or did not answer: worth trying again.
                      done(e.category() == kCommandErrorCategory
                               ? reply_of(e)
                               : shard_moved(stream,
                                             "forwarding to " + holder + " failed: " + to_string(e),
                                             true));
                    });
          },
          *r.peer);
      return;
    }
    // A short-lived requester per command: it holds `done` (never a message does) and ends with
    // the answer. The registry or aggregate always answers (a stopping aggregate fails what it
    // holds; a stopped registry makes CAF answer request_receiver_down); at the deadline CAF
    // answers request_timeout. (The registry is passed as a spawn argument: CAF 0.17
    // dereferences a null argument tuple when a function actor is spawned without any, which
    // UBSan reports.)
    i.sys->spawn(
        [req = std::move(req), done = std::move(done), deadline](caf::event_based_actor* self,
                                                                 registry_actor registry) mutable {
          self->request(registry, deadline, cmd_atom::value, std::move(req))
              .then([done](command_reply& r) { done(std::move(r)); },
                    [done](caf::error& e) { done(reply_of(e)); });
        },
        i.registry);
  };
  if (!i.placement) return dispatch(std::move(req), std::move(done), deadline, route{});
  // Clustered: an attempt goes where the placement says. While the shard moves (or its holder
  // is not connected yet), or when the owner refused the command before writing anything (its
  // shard moved under it), the command tries again, polling the placement on no thread, for at
  // most the move wait and its own deadline; then it answers 503 shard_moved. An attempt whose
  // fate is unknown (a forward that got no answer) is never repeated here.
  auto started = clock::now();
  auto until = started + std::min<std::chrono::milliseconds>(deadline, i.opts.move_wait);
  i.sys->spawn(
      [req = std::move(req), done = std::move(done), deadline, started, until, route_of, dispatch,
       waits = &i.move_waits](caf::event_based_actor* self,
                              registry_actor) mutable -> caf::behavior {
        auto waited = std::make_shared<bool>(false);
        auto again = [self, waited, waits] {
          if (!*waited) ++*waits;
          *waited = true;
          self->delayed_send(self, kPlacementPoll, tick_atom::value, uint64_t{0});
        };
        self->send(self, tick_atom::value, uint64_t{0});
        return {
            [=](tick_atom, uint64_t) mutable {
              auto r = route_of(req.stream_id);
              auto now = clock::now();
              if (!r.wait) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                  (now - started));
                auto me = caf::actor_cast<caf::actor>(self);
                dispatch(
                    req, [me](command_reply rep) { caf::anon_send(me, std::move(rep)); },
                    std::max(left, std::chrono::milliseconds(1)), std::move(r));
              } else if (now >= until) {
                done(shard_moved(req.stream_id, r.holder.empty()
                                                    ? "the stream's shard is moving between members"
                                                    : "the stream's shard is held by " + r.holder +
                                                          ", not reachable from here yet"));
                self->quit();
              } else {
                again();
              }
            },
            [=](command_reply& rep) mutable {
              if (!rep.ok() && rep.not_applied && clock::now() < until) return again();
              done(std::move(rep));
              self->quit();
            }};
      },
      i.registry);
}

void runtime::send_each(std::vector<command_request> reqs,
                        std::function<void(std::vector<command_reply>)> done,
                        std::chrono::milliseconds deadline) {
  if (reqs.empty()) return done({});
  struct collected {
    std::mutex m;
    std::vector<command_reply> replies;
    size_t left;
    std::function<void(std::vector<command_reply>)> done;
  };
  auto got = std::make_shared<collected>();
  got->replies.resize(reqs.size());
  got->left = reqs.size();
  got->done = std::move(done);
  for (size_t i = 0; i < reqs.size(); ++i)
    send(
        std::move(reqs[i]),
        [got, i](command_reply r) {
          bool last;
          {
            std::lock_guard lk(got->m);
            got->replies[i] = std::move(r);
            last = --got->left == 0;
          }
          if (last) got->done(std::move(got->replies));
        },
        deadline);
}

command_reply timed_out_reply() {
  command_reply r;
  r.result = outcome::timed_out;
  r.code = "timeout";
  r.message = "command timed out";
  return r;
}

// The requesters answer by the deadline; the extra second only keeps a wait from ending just
// before CAF's timer does.
constexpr auto kWaitMargin = std::chrono::seconds(1);

command_reply runtime::send_sync(command_request req, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<command_reply>>();
  auto f = p->get_future();
  send(
      std::move(req), [p](command_reply r) { p->set_value(std::move(r)); }, timeout);
  if (f.wait_for(timeout + kWaitMargin) != std::future_status::ready) return timed_out_reply();
  return f.get();
}

std::vector<command_reply> runtime::send_all(std::vector<command_request> reqs,
                                             std::chrono::milliseconds timeout) {
  auto n = reqs.size();
  auto p = std::make_shared<std::promise<std::vector<command_reply>>>();
  auto f = p->get_future();
  send_each(
      std::move(reqs), [p](std::vector<command_reply> r) { p->set_value(std::move(r)); }, timeout);
  if (f.wait_for(timeout + kWaitMargin) != std::future_status::ready)
    return std::vector<command_reply>(n, timed_out_reply());
  return f.get();
}

void runtime::passivate(const std::string& stream_id) {
  caf::anon_send(impl_->registry, stop_atom::value, stream_id);
}

runtime_stats runtime::stats() const {
  runtime_stats s;
  s.live_aggregates = impl_->ctx.live.load();
  s.recoveries = impl_->ctx.recoveries.load();
  s.forwarded = impl_->forwarded.load();
  s.move_waits = impl_->move_waits.load();
  std::lock_guard lock(impl_->ctx.kinds_mu);
  s.live_by_kind = impl_->ctx.live_by_kind;
  return s;
}
store::group_appender& runtime::appender() { return impl_->appender; }
store::connection_pool& runtime::pool() { return impl_->pool; }
const std::string& runtime::node_id() const { return impl_->opts.node_id; }

caf::actor_system& runtime_access::system(runtime& rt) { return *rt.impl_->sys; }
registry_actor runtime_access::registry(runtime& rt) { return rt.impl_->registry; }

}  // namespace beampipe::actors
