#include "actors/runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/io/all.hpp>
#include <future>
#include <mutex>
#include <set>

#include "actors/protocol.hpp"
#include "util/host_port.hpp"

namespace beampipe::actors {

caf::error make_error(command_errc code, const command_reply& r) {
  return caf::error(static_cast<uint8_t>(code), kCommandErrorCategory,
                    caf::make_message(r.code, r.message, r.field, r.details_json, r.stream_id,
                                      r.version, r.position));
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
                          int64_t>()) {
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
  std::unique_ptr<caf::actor_system> sys;
  shared_ctx ctx;
  runtime::placement_function placement;  // set before the first command, then only read
  std::mutex peers_mu;
  std::map<std::string, std::pair<std::string, registry_actor>> peers;  // node -> (addr, proxy)
  std::atomic<size_t> forwarded{0};
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
    registry = spawn_registry(*sys, &ctx);
    if (!o.cluster_addr.empty()) {
      auto hp = util::split_host_port(o.cluster_addr);
      if (!hp)
        throw std::runtime_error("BEAMPIPE_CLUSTER_BIND_ADDR must be host:port, got '" +
                                 o.cluster_addr + "'");
      auto bound = sys->middleman().publish(registry, hp->port, hp->host.c_str(), true);
      if (!bound)
        throw std::runtime_error("cannot listen on the cluster address " + o.cluster_addr + ": " +
                                 sys->render(bound.error()));
    }
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
void runtime::shutdown() {
  if (impl_) impl_->stop();
}

namespace {
// A command this node cannot place now: another member holds its shard and cannot be reached
// (or the shard is moving); worth trying again (503 with Retry-After).
command_reply shard_moved(const std::string& stream_id, std::string message) {
  command_reply r;
  r.result = outcome::unavailable;
  r.code = "shard_moved";
  r.message = std::move(message);
  r.stream_id = stream_id;
  return r;
}
}  // namespace

void runtime::set_peers(const std::map<std::string, std::string>& members,
                        std::chrono::milliseconds timeout) {
  auto& i = *impl_;
  if (i.opts.cluster_addr.empty()) return;
  {
    std::lock_guard lk(i.peers_mu);
    for (auto it = i.peers.begin(); it != i.peers.end();) {
      auto m = members.find(it->first);
      it = m == members.end() || m->second != it->second.first ? i.peers.erase(it) : std::next(it);
    }
  }
  for (const auto& [node, addr] : members) {
    if (node == i.opts.node_id) continue;
    {
      std::lock_guard lk(i.peers_mu);
      if (i.peers.count(node)) continue;
    }
    // Written by another process: a malformed one is skipped, never fatal to the round.
    auto hp = util::split_host_port(addr);
    if (!hp) {
      spdlog::warn("cluster: {} gives no usable address", node);
      continue;
    }
    // The middleman's connect with a deadline (remote_actor would wait for a handshake that a
    // frozen peer never answers); a peer that does not answer is tried next round.
    std::optional<registry_actor> proxy;
    std::string why;
    caf::scoped_actor self{*i.sys};
    self->request(i.sys->middleman().actor_handle(), timeout, caf::connect_atom::value, hp->host,
                  hp->port)
        .receive(
            [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
              auto want = i.sys->message_types<registry_actor>();
              if (!ptr)
                why = "nothing is published there";
              else if (!std::includes(ifs.begin(), ifs.end(), want.begin(), want.end()))
                why = "it is not a beampipe registry of this version";
              else
                proxy = caf::actor_cast<registry_actor>(std::move(ptr));
            },
            [&](caf::error& e) { why = i.sys->render(e); });
    if (!proxy) {
      spdlog::warn("cluster: cannot reach {} at {}: {}", node, addr, why);
      continue;
    }
    std::lock_guard lk(i.peers_mu);
    i.peers[node] = {addr, *proxy};
    spdlog::info("cluster: connected to {} at {}", node, addr);
  }
}

void runtime::send(command_request req, std::function<void(command_reply)> done,
                   std::chrono::milliseconds deadline) {
  // A stream of a shard another member holds goes to that member's registry (issue #23).
  if (impl_->placement) {
    std::string holder;
    if (!impl_->placement(req.stream_id, holder) && !holder.empty()) {
      std::optional<registry_actor> peer;
      {
        std::lock_guard lk(impl_->peers_mu);
        if (auto it = impl_->peers.find(holder); it != impl_->peers.end()) peer = it->second.second;
      }
      if (!peer)
        return done(shard_moved(req.stream_id, "the stream's shard is held by " + holder +
                                                   ", not reachable from here yet"));
      ++impl_->forwarded;
      impl_->sys->spawn(
          [req = std::move(req), done = std::move(done), deadline, holder](
              caf::event_based_actor* self, registry_actor remote) mutable {
            auto stream = req.stream_id;
            self->request(remote, deadline, cmd_atom::value, std::move(req))
                .then([done](command_reply& r) { done(std::move(r)); },
                      [done, holder, stream](caf::error& e) {
                        // The peer went away or did not answer: worth trying again.
                        done(e.category() == kCommandErrorCategory
                                 ? reply_of(e)
                                 : shard_moved(stream, "forwarding to " + holder +
                                                           " failed: " + to_string(e)));
                      });
          },
          *peer);
      return;
    }
  }
  // A short-lived requester per command: it holds `done` (never a message does) and ends with
  // the answer. The registry or aggregate always answers (a stopping aggregate fails what it
  // holds; a stopped registry makes CAF answer request_receiver_down); at the deadline CAF
  // answers request_timeout. (The registry is passed as a spawn argument: CAF 0.17
  // dereferences a null argument tuple when a function actor is spawned without any, which
  // UBSan reports.)
  impl_->sys->spawn(
      [req = std::move(req), done = std::move(done), deadline](caf::event_based_actor* self,
                                                               registry_actor registry) mutable {
        self->request(registry, deadline, cmd_atom::value, std::move(req))
            .then([done](command_reply& r) { done(std::move(r)); },
                  [done](caf::error& e) { done(reply_of(e)); });
      },
      impl_->registry);
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
