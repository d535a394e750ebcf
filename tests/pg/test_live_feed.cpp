// The live event feed against a real store: a stream paging through history joins the shared
// live read with no gap, late commits are delivered in read order and never skipped, a client
// that takes nothing gets the overflow notice naming the last event it was sent, and the
// stream cap holds. The test plays the connection: it pulls pieces as a socket would.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>

#include "api/live_feed.hpp"
#include "pg_fixture.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"

using namespace beampipe;
using store::expected_version;

namespace {

struct sink : api::stream_sink {
  std::mutex mu;
  std::condition_variable cv;
  int wakes = 0;
  void wake() override {
    std::lock_guard lk(mu);
    ++wakes;
    cv.notify_all();
  }
  int count() {
    std::lock_guard lk(mu);
    return wakes;
  }
  // Waits (bounded) for a wake after `seen` of them.
  bool woken_after(int seen) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(10), [&] { return wakes > seen; });
  }
};

struct message {
  int64_t id = 0;
  std::string event, type;
  boost::json::value data;
};

// A client of one stream.
struct client {
  std::shared_ptr<api::stream_source> src;
  std::shared_ptr<sink> s = std::make_shared<sink>();
  std::string text;
  bool ended = false;
  explicit client(std::shared_ptr<api::stream_source> source) : src(std::move(source)) {
    src->attached(s);
  }
  ~client() { src->closed(); }
  // Takes every piece there is now.
  void pull() {
    while (auto p = src->next()) {
      text += p->bytes;
      ended = ended || p->last;
    }
  }
  // Messages with data, parsed (comments and the retry line dropped).
  std::vector<message> take() {
    pull();
    std::vector<message> out;
    size_t end;
    while ((end = text.find("\n\n")) != std::string::npos) {
      auto block = text.substr(0, end);
      text.erase(0, end + 2);
      message m;
      m.event = "message";
      size_t at = 0;
      bool has_data = false;
      while (at < block.size()) {
        auto nl = block.find('\n', at);
        auto line = block.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
        at = nl == std::string::npos ? block.size() : nl + 1;
        if (line.rfind("id: ", 0) == 0) m.id = std::stoll(line.substr(4));
        if (line.rfind("event: ", 0) == 0) m.event = line.substr(7);
        if (line.rfind("data: ", 0) == 0) {
          m.data = boost::json::parse(line.substr(6));
          has_data = true;
        }
      }
      if (has_data) out.push_back(std::move(m));
    }
    return out;
  }
  // Pulls until `n` events came (bounded).
  std::vector<int64_t> ids(size_t n) {
    std::vector<int64_t> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      int seen = s->count();
      for (auto& m : take())
        if (m.event == "message") got.push_back(m.id);
      if (got.size() < n) s->woken_after(seen);
    }
    return got;
  }
};

events::new_event ev(std::string type, std::string data = "{\"n\":1}") {
  return {util::uuid_v7(), std::move(type), 1, std::move(data), "{}"};
}

std::vector<int64_t> append_n(pqxx::connection& c, const std::string& stream, int n,
                              const std::string& data = "{\"n\":1}") {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    auto r = store::append(c, {stream, expected_version::any_version(), {ev("E", data)}});
    REQUIRE(r.status == store::append_status::ok);
    out.push_back(r.last_position);
  }
  return out;
}

void insert_raw(pqxx::work& tx, const std::string& stream) {
  tx.exec_params(
      "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
      "metadata) VALUES ($1::uuid, $2, 'source', 1, 'Slow', '{}', '{}')",
      util::uuid_v7(), stream);
}

struct feed_fixture {
  std::string ci = test::fresh_database();
  store::connection_pool pool{ci, 2, "feed-test"};
  projections::projection_watch watch;  // no runners: the feed polls
  std::unique_ptr<api::live_feed> feed;
  std::unique_ptr<pqxx::connection> writer = store::connect(ci);

  void start(api::live_feed_options o) {
    o.idle_poll = std::chrono::milliseconds(20);
    feed = std::make_unique<api::live_feed>(pool, watch, o);
    feed->start();
  }
  events::read_position now() {
    pqxx::read_transaction tx{*writer};
    return store::fenced_tail(tx);
  }
};

}  // namespace

TEST_CASE_FIXTURE(feed_fixture, "a stream paging through history joins the live read, no gap") {
  api::live_feed_options o;
  o.page = 4;
  start(o);
  auto early = append_n(*writer, "source-a", 10);
  // After the last early event by its position, not "now": the read fence is cluster-wide, so
  // a transaction open in another database (tests run side by side) can hold the tail back.
  client live(feed->open({}, *store::read_position_of(*writer, early.back())));
  auto more = append_n(*writer, "source-b", 10);
  CHECK(live.ids(10) == more);  // the shared read is going, ahead of the next stream
  client history(feed->open({}, {}));
  auto all = early;
  all.insert(all.end(), more.begin(), more.end());
  CHECK(history.ids(all.size()) == all);  // five pages, then the live read
  auto last = append_n(*writer, "source-c", 3);
  CHECK(history.ids(3) == last);
  CHECK(live.ids(3) == last);
}

TEST_CASE_FIXTURE(feed_fixture, "a late commit reaches a live stream in read order") {
  start({});
  client s(feed->open({}, now()));
  auto a_conn = store::connect(ci);
  auto b_conn = store::connect(ci);
  // B takes the older transaction id, A the lower position; B commits first.
  pqxx::work b{*b_conn};
  b.exec("SELECT pg_current_xact_id()");
  pqxx::work a{*a_conn};
  insert_raw(a, "source-slow");
  insert_raw(b, "source-fast");
  b.commit();
  auto first = s.ids(1);
  REQUIRE(first.size() == 1);
  // While A is open, a younger commit is held back: nothing may pass it.
  auto c_pos = append_n(*writer, "source-later", 1);
  a.commit();
  auto next = s.ids(2);
  REQUIRE(next.size() == 2);
  CHECK(next[0] < first[0]);  // A's lower position, committed after B: not skipped
  CHECK(next[1] == c_pos[0]);
  pqxx::read_transaction tx{*writer};
  auto order = store::read_all(tx, {}, 10);
  REQUIRE(order.size() == 3);
  CHECK(std::vector<int64_t>{first[0], next[0], next[1]} ==
        std::vector<int64_t>{order[0].position, order[1].position, order[2].position});
}

TEST_CASE_FIXTURE(
    feed_fixture,
    "a client that takes nothing is told where to resume: after the last event sent") {
  api::live_feed_options o;
  o.buffer_bytes = 4096;
  start(o);
  client s(feed->open({}, now()));
  // One event read (a short page: the stream has caught up and is live from here on).
  REQUIRE(s.ids(1) == append_n(*writer, "source-first", 1));
  int seen = s.s->count();
  // One transaction of 100 events: read and handed out in one pass, then the client is woken.
  std::vector<events::new_event> batch;
  for (int i = 0; i < 100; ++i)
    batch.push_back(ev("E", "{\"pad\":\"" + std::string(200, 'x') + "\"}"));
  REQUIRE(store::append(*writer, {"source-flood", expected_version::none(), batch}).status ==
          store::append_status::ok);
  REQUIRE(s.s->woken_after(seen));
  auto msgs = s.take();
  REQUIRE(msgs.size() >= 2);
  CHECK(s.ended);
  CHECK(msgs.back().event == "overflow");
  CHECK(msgs.size() < 100);  // bounded by the buffer
  // The notice names the last event sent: resuming there misses nothing, repeats nothing.
  CHECK(msgs.back().data.at("resume_after").as_int64() == msgs[msgs.size() - 2].id);
  msgs.pop_back();
  // What was sent is the start of the read order, nothing skipped.
  pqxx::read_transaction tx{*writer};
  auto all = store::read_all(tx, {}, 1000);
  REQUIRE(all.size() == 101);
  for (size_t i = 0; i < msgs.size(); ++i) CHECK(msgs[i].id == all[i + 1].position);
}

TEST_CASE_FIXTURE(feed_fixture, "one event larger than the buffer reaches a client that took all") {
  api::live_feed_options o;
  o.buffer_bytes = 4096;
  start(o);
  client s(feed->open({}, now()));
  REQUIRE(s.ids(1) == append_n(*writer, "source-first", 1));
  auto big = append_n(*writer, "source-big", 1, "{\"pad\":\"" + std::string(3 * 4096, 'z') + "\"}");
  CHECK(s.ids(1) == big);
  CHECK(!s.ended);
}

TEST_CASE_FIXTURE(feed_fixture, "streams are capped, a closed one frees its place, stop ends all") {
  api::live_feed_options o;
  o.max_streams = 2;
  start(o);
  auto one = std::make_unique<client>(feed->open({}, {}));
  client two(feed->open({}, {}));
  CHECK_THROWS_AS(feed->open({}, {}), api::api_error);
  CHECK(feed->open_streams() == 2);
  one.reset();
  CHECK(feed->open_streams() == 1);
  client three(feed->open({}, {}));
  feed->stop();
  two.pull();
  three.pull();
  CHECK(two.ended);
  CHECK(three.ended);
  CHECK_THROWS_AS(feed->open({}, {}), api::api_error);
}
