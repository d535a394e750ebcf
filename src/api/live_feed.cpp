#include "api/live_feed.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "events/validity.hpp"
#include "store/event_store.hpp"

namespace beampipe::api {
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;
using events::read_position;

bool feed_filter::admits(const events::recorded_event& e) const {
  if (!events::feed_visible(e, superuser)) return false;
  if (!stream_id.empty() && e.stream_id != stream_id) return false;
  if (!stream_type.empty() && e.stream_type != stream_type) return false;
  if (!type.empty() && e.type != type) return false;
  if (project_module.empty()) return true;
  boost::system::error_code ec;
  auto data = json::parse(e.data, ec);
  if (ec || !data.is_object()) return false;
  const auto* m = data.as_object().if_contains("project_module");
  return m && m->is_string() && m->as_string() == project_module;
}

std::string sse_message(const events::recorded_event& e) {
  // Serialized JSON holds no raw line break (they are escaped in strings), so one data line.
  return "id: " + std::to_string(e.position) + "\ndata: " + json::serialize(events::feed_json(e)) +
         "\n\n";
}

std::string sse_overflow(int64_t resume_after) {
  return "event: overflow\ndata: " +
         json::serialize(json::object{
             {"resume_after", resume_after},
             {"detail", "the client fell behind the stream; resume with ?after=resume_after"}}) +
         "\n\n";
}

struct live_feed::state : std::enable_shared_from_this<live_feed::state> {
  // One client's stream. Every member is guarded by the feed's mutex.
  class stream : public stream_source {
   public:
    stream(std::shared_ptr<state> feed, feed_filter f, read_position after)
        : feed_(std::move(feed)), filter(std::move(f)), cursor(after) {}

    void attached(std::shared_ptr<stream_sink> s) override {
      std::lock_guard lk(feed_->mu);
      if (!gone) sink = std::move(s);
    }

    std::optional<piece> next() override {
      std::lock_guard lk(feed_->mu);
      if (queue.empty()) return std::nullopt;
      piece p{std::move(queue.front()), false};
      queue.pop_front();
      bytes -= p.bytes.size();
      p.last = ended && queue.empty();
      // A stream reading history asks for its next page once its client took half.
      if (hungry()) feed_->nudge();
      return p;
    }

    void closed() override {
      std::lock_guard lk(feed_->mu);
      if (gone) return;
      gone = true;
      sink.reset();
      --feed_->open_count;
      feed_->nudge();
    }

    // Under the feed's mutex from here on.
    bool hungry() const { return !gone && !ended && !live && bytes < feed_->o.buffer_bytes / 2; }
    void push(std::string text) {
      bytes += text.size();
      queue.push_back(std::move(text));
      last_push = clock_type::now();
    }
    // The last piece: nothing is queued after it, and the connection closes once it is written.
    void end_with(std::string text) {
      push(std::move(text));
      ended = true;
      live = false;
    }

    std::shared_ptr<state> feed_;
    feed_filter filter;
    read_position cursor;  // the last event this stream has passed (shown or filtered out)
    bool live = false;     // caught up: served by the shared read of new events
    bool ended = false;    // its last piece is queued
    bool gone = false;     // the connection closed
    std::deque<std::string> queue;
    size_t bytes = 0;
    clock_type::time_point last_push = clock_type::now();
    std::shared_ptr<stream_sink> sink;
  };

  state(store::connection_pool& p, projections::projection_watch& w, live_feed_options opts)
      : pool(p), watch(w), o(opts) {}

  void nudge() {
    wake = true;
    cv.notify_one();
  }

  store::connection_pool& pool;
  projections::projection_watch& watch;
  live_feed_options o;
  std::mutex mu;
  std::condition_variable cv;
  bool wake = false, stopping = false, running = false;
  std::vector<std::shared_ptr<stream>> streams;
  size_t open_count = 0;
  uint64_t overflow_count = 0;
  // Where the shared read of new events stands; none while no stream is live.
  std::optional<read_position> tail;
  int64_t seen_head = 0;      // the highest position read: below the head, events are held back
  bool head_watched = false;  // a wake is registered with the watch for the next head
  std::thread thread;

  void run();
  void read_new(pqxx::transaction_base& tx, std::vector<std::shared_ptr<stream_sink>>& woken);
  void read_history(pqxx::transaction_base& tx, const std::shared_ptr<stream>& s,
                    std::vector<std::shared_ptr<stream_sink>>& woken);
  void watch_head();
};

void live_feed::state::watch_head() {
  if (watch.stopping()) return;
  {
    std::lock_guard lk(mu);
    if (head_watched || !tail || stopping) return;
    head_watched = true;
  }
  auto id = watch.notify_when({std::nullopt, watch.head() + 1, {}}, [self = weak_from_this()] {
    if (auto s = self.lock()) {
      std::lock_guard lk(s->mu);
      s->head_watched = false;
      s->nudge();
    }
  });
  if (id == 0) {
    std::lock_guard lk(mu);
    head_watched = false;
    nudge();
  }
}

// New events for every live stream: read once, each stream shown what passes its filter.
void live_feed::state::read_new(pqxx::transaction_base& tx,
                                std::vector<std::shared_ptr<stream_sink>>& woken) {
  constexpr int64_t kBatch = 1000;
  for (int round = 0; round < 8; ++round) {
    read_position from;
    {
      std::lock_guard lk(mu);
      if (!tail) return;
      from = *tail;
    }
    auto evs = store::read_all(tx, from, kBatch);
    if (evs.empty()) return;
    std::lock_guard lk(mu);
    for (const auto& e : evs) {
      auto at = events::position_of(e);
      std::optional<std::string> message;  // formatted once for every stream that shows it
      for (auto& s : streams) {
        if (!s->live || s->gone || at <= s->cursor) continue;
        auto passed = s->cursor;
        s->cursor = at;
        if (!s->filter.admits(e)) continue;
        if (!message) message = sse_message(e);
        // An event larger than the whole buffer still goes to a client that has taken
        // everything else: the bound is on what waits, not on one event.
        if (!s->queue.empty() && s->bytes + message->size() > o.buffer_bytes) {
          s->end_with(sse_overflow(passed.position));
          ++overflow_count;
        } else
          s->push(*message);
        if (s->sink) woken.push_back(s->sink);
      }
      tail = at;
      seen_head = std::max(seen_head, at.position);
    }
    if (static_cast<int64_t>(evs.size()) < kBatch) return;
  }
}

// One page of history for a stream that has not caught up. A short page means it reached what
// the read fence lets through, which includes everything the shared read has read (that read
// ran before this one, on this thread), so the stream joins it without a gap; events it has
// passed already are skipped by its cursor.
void live_feed::state::read_history(pqxx::transaction_base& tx, const std::shared_ptr<stream>& s,
                                    std::vector<std::shared_ptr<stream_sink>>& woken) {
  read_position from;
  {
    std::lock_guard lk(mu);
    from = s->cursor;
  }
  auto evs = store::read_all(tx, from, o.page);
  std::lock_guard lk(mu);
  if (s->gone || s->ended) return;
  bool caught_up = static_cast<int64_t>(evs.size()) < o.page;
  for (const auto& e : evs) {
    // Never more than the buffer: the rest is read again once the client took some.
    if (s->bytes >= o.buffer_bytes) {
      caught_up = false;
      break;
    }
    s->cursor = events::position_of(e);
    if (s->filter.admits(e)) s->push(sse_message(e));
  }
  if (caught_up) {
    if (!tail) tail = s->cursor;
    seen_head = std::max(seen_head, s->cursor.position);
    s->live = true;
  }
  if (s->sink && !s->queue.empty()) woken.push_back(s->sink);
}

void live_feed::state::run() {
  std::optional<clock_type::time_point> failed_at;
  while (true) {
    std::vector<std::shared_ptr<stream>> hungry;
    std::vector<std::shared_ptr<stream_sink>> woken;
    bool reading = false;
    const auto head = watch.head();  // read before the feed's lock: never both locks at once
    {
      std::unique_lock lk(mu);
      auto any_hungry = [&] {
        return std::any_of(streams.begin(), streams.end(), [](auto& s) { return s->hungry(); });
      };
      // Committed events the fence still holds back are read again soon; otherwise the watch
      // wakes the feed when the head moves, and a slow poll covers other processes' writes.
      bool held_back = tail && head > seen_head;
      if (!stopping && !wake && !any_hungry())
        cv.wait_for(lk, held_back ? o.fence_poll : o.idle_poll);
      // After a failed read, the next waits a second (not a busy loop on a database outage).
      if (failed_at && !stopping)
        cv.wait_until(lk, *failed_at + std::chrono::seconds(1), [&] { return stopping; });
      if (stopping) break;
      wake = false;
      std::erase_if(streams, [](auto& s) { return s->gone; });
      bool any_live = false;
      for (auto& s : streams) {
        any_live = any_live || s->live;
        if (s->hungry()) hungry.push_back(s);
      }
      if (!any_live) tail.reset();
      reading = tail.has_value() || !hungry.empty();
      // Heartbeats: a comment on a stream that has had nothing to say for a while.
      auto now = clock_type::now();
      for (auto& s : streams)
        if (!s->ended && s->queue.empty() && now - s->last_push >= o.heartbeat) {
          s->push(": heartbeat\n\n");
          if (s->sink) woken.push_back(s->sink);
        }
    }
    if (reading) {
      try {
        store::with_connection(pool, [&](pqxx::connection& c) {
          pqxx::read_transaction tx{c};
          read_new(tx, woken);
          for (auto& s : hungry) read_history(tx, s, woken);
        });
        failed_at.reset();
      } catch (const std::exception& e) {
        if (!failed_at) spdlog::warn("event stream: reading the store failed: {}", e.what());
        failed_at = clock_type::now();
      }
      watch_head();
    }
    for (auto& w : woken) w->wake();
  }
  // Stopping: every stream ends with a comment, so its client sees the close and resumes.
  std::vector<std::shared_ptr<stream_sink>> woken;
  {
    std::lock_guard lk(mu);
    for (auto& s : streams) {
      if (s->gone || s->ended) continue;
      s->end_with(": the server is stopping\n\n");
      if (s->sink) woken.push_back(s->sink);
    }
  }
  for (auto& w : woken) w->wake();
  std::lock_guard lk(mu);
  streams.clear();  // each open stream holds the feed's state; the feed no longer holds them
}

live_feed::live_feed(store::connection_pool& pool, projections::projection_watch& watch,
                     live_feed_options options)
    : s_(std::make_shared<state>(pool, watch, options)) {}

live_feed::~live_feed() { stop(); }

void live_feed::start() {
  std::lock_guard lk(s_->mu);
  if (s_->running || s_->stopping) return;
  s_->running = true;
  s_->thread = std::thread([s = s_.get()] { s->run(); });
}

void live_feed::stop() {
  {
    std::lock_guard lk(s_->mu);
    if (s_->stopping) return;
    s_->stopping = true;
    s_->cv.notify_all();
  }
  if (s_->thread.joinable()) s_->thread.join();
}

std::shared_ptr<stream_source> live_feed::open(feed_filter filter, read_position after) {
  std::lock_guard lk(s_->mu);
  if (s_->stopping || !s_->running)
    throw api_error{503, "unavailable", "the event stream is not running", "", nullptr};
  if (s_->open_count >= s_->o.max_streams)
    throw api_error{503, "too_many_streams",
                    "every event stream of this process is taken (BEAMPIPE_MAX_STREAMS = " +
                        std::to_string(s_->o.max_streams) + "); retry later",
                    "", nullptr};
  auto st = std::make_shared<state::stream>(s_, std::move(filter), after);
  // The client retries after 2 s when the connection drops, sending the last id it saw; the
  // first event says where the stream starts, so a client that saw nothing yet can resume too.
  st->push("retry: 2000\nevent: ready\ndata: {\"after\":" + std::to_string(after.position) +
           "}\n\n");
  ++s_->open_count;
  s_->streams.push_back(st);
  s_->nudge();
  return st;
}

size_t live_feed::open_streams() const {
  std::lock_guard lk(s_->mu);
  return s_->open_count;
}

uint64_t live_feed::overflows() const {
  std::lock_guard lk(s_->mu);
  return s_->overflow_count;
}

const live_feed_options& live_feed::options() const { return s_->o; }

}  // namespace beampipe::api
