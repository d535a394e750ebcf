#pragma once
// The live event feed behind GET /api/v2/events/stream (Server-Sent Events). One feed thread
// per process does every database read of every stream: it reads each new stretch of the store
// once for all streams that have caught up (woken when the projection runners see a new head,
// and polling briefly while the read fence holds committed events back), and pages through
// history for a stream that has not caught up yet, only as fast as its client takes it. A
// stream holds no handler thread; what its client has not taken waits in a bounded buffer,
// and a client that falls further behind gets `event: overflow` naming where to resume, and
// is closed.
#include <chrono>
#include <memory>
#include <string>

#include "api/http.hpp"
#include "events/envelope.hpp"
#include "projections/runner.hpp"
#include "store/db.hpp"

namespace beampipe::api {

struct live_feed_options {
  size_t max_streams = 100;                   // BEAMPIPE_MAX_STREAMS
  size_t buffer_bytes = 1024 * 1024;          // BEAMPIPE_STREAM_BUFFER_BYTES, per stream
  std::chrono::seconds heartbeat{15};         // BEAMPIPE_STREAM_HEARTBEAT_SECONDS
  int64_t page = 256;                         // events per history read of one stream
  std::chrono::milliseconds fence_poll{100};  // re-read while committed events are held back
  std::chrono::milliseconds idle_poll{1000};  // re-read without a wake (another process wrote)
};

// Which events a stream shows. Sign-ins and user accounts only to superusers (as /events).
struct feed_filter {
  std::string stream_id, stream_type, type;
  std::string project_module;  // events whose data names this project module
  bool superuser = false;
  bool admits(const events::recorded_event& e) const;
};

// One event as an SSE message: its position as the id, the /events feed's JSON as the data.
std::string sse_message(const events::recorded_event& e);
// The last message of a stream that fell behind: where its client resumes (?after=).
std::string sse_overflow(int64_t resume_after);

class live_feed {
 public:
  live_feed(store::connection_pool& pool, projections::projection_watch& watch,
            live_feed_options options);
  ~live_feed();
  live_feed(const live_feed&) = delete;
  live_feed& operator=(const live_feed&) = delete;

  void start();
  // Ends every open stream (their clients see the stream close and resume) and the feed thread.
  void stop();
  // A stream of the events after `after` in read order ({0, 0}: from the first), opening with
  // `event: ready` whose data names that position (`after`). Throws
  // api_error 503 when BEAMPIPE_MAX_STREAMS are open.
  std::shared_ptr<stream_source> open(feed_filter filter, events::read_position after);
  size_t open_streams() const;
  // Streams ended with `event: overflow` since start (clients that fell behind).
  uint64_t overflows() const;
  const live_feed_options& options() const;

 private:
  struct state;
  std::shared_ptr<state> s_;
};

}  // namespace beampipe::api
