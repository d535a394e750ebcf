#include "projections/catch_up.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "store/db.hpp"
#include "store/event_store.hpp"

namespace beampipe::projections {
namespace {

// The batches between the reader and the appliers. Batch `seq` stays until every applier has
// applied it; the reader waits while `read_ahead` batches are unapplied by the slowest.
class batch_line {
 public:
  explicit batch_line(size_t appliers, size_t read_ahead)
      : next_(appliers, 0), read_ahead_(std::max<size_t>(1, read_ahead)) {}

  // The reader: false when it is to stop (a failure elsewhere).
  bool push(std::shared_ptr<const read_ahead> b) {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return failed_ || first_ + kept_.size() - slowest() < read_ahead_; });
    if (failed_) return false;
    kept_.push_back(std::move(b));
    cv_.notify_all();
    return true;
  }
  void close() {
    std::lock_guard lk(m_);
    closed_ = true;
    cv_.notify_all();
  }
  // Applier i: its next batch; null when there are no more (or a failure stopped the run).
  std::shared_ptr<const read_ahead> take(size_t i) {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return failed_ || closed_ || next_[i] < first_ + kept_.size(); });
    if (failed_ || next_[i] >= first_ + kept_.size()) return nullptr;
    return kept_[next_[i] - first_];
  }
  // Applier i applied its batch; returns the events every applier has passed when that grew.
  std::optional<size_t> applied(size_t i) {
    std::lock_guard lk(m_);
    ++next_[i];
    std::optional<size_t> grew;
    while (!kept_.empty() && first_ < slowest()) {
      passed_ += kept_.front()->events.size();
      kept_.pop_front();
      ++first_;
      grew = passed_;
    }
    cv_.notify_all();
    return grew;
  }
  void fail(std::exception_ptr e) {
    std::lock_guard lk(m_);
    if (!error_) error_ = e;
    failed_ = true;
    cv_.notify_all();
  }
  std::exception_ptr error() {
    std::lock_guard lk(m_);
    return error_;
  }

 private:
  size_t slowest() const { return *std::min_element(next_.begin(), next_.end()); }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const read_ahead>> kept_;
  size_t first_ = 0;  // seq of kept_.front()
  std::vector<size_t> next_;
  size_t read_ahead_;
  size_t passed_ = 0;
  bool closed_ = false, failed_ = false;
  std::exception_ptr error_;
};

}  // namespace

size_t catch_up_together(const std::string& conninfo,
                         const std::vector<std::shared_ptr<engine>>& engines,
                         const catch_up_options& o) {
  if (engines.empty()) return 0;
  auto open = [&](const std::string& name) {
    auto c = store::connect(conninfo, name);
    if (o.prepare) o.prepare(*c);
    return c;
  };
  // Read with payloads every type some engine takes.
  std::vector<std::string> no_payload = engines.front()->types_without_payload();
  for (const auto& e : engines) {
    const auto& theirs = e->types_without_payload();
    std::erase_if(no_payload, [&](const std::string& t) {
      return std::find(theirs.begin(), theirs.end(), t) == theirs.end();
    });
  }
  size_t appliers = std::clamp<size_t>(o.appliers, 1, engines.size());
  batch_line line(appliers, o.read_ahead);
  std::mutex progress_m;
  size_t read_total = 0;

  std::thread reader([&] {
    ::pthread_setname_np(::pthread_self(), "catch-up-read");
    try {
      auto c = open("beampipe-catch-up-read");
      // From the least advanced checkpoint; up to the furthest bound, when there are bounds.
      std::optional<events::read_position> from;
      for (const auto& e : engines)
        for (const auto& cp : e->checkpoints(*c))
          if (!from || cp.at < *from) from = cp.at;
      std::optional<events::read_position> last_bound;
      if (o.until)
        for (const auto& [name, at] : *o.until)
          if (!last_bound || *last_bound < at) last_bound = at;
      auto past_bounds = [&] { return o.until && (!last_bound || !(*from < *last_bound)); };
      while (!past_bounds()) {
        auto b = std::make_shared<read_ahead>();
        b->after = *from;
        {
          pqxx::read_transaction tx{*c};
          // The read is in index order and stops at the limit; with statistics older than the
          // table (a rebuild right after an import) the planner would sort the whole table.
          tx.exec("SET LOCAL enable_sort = off");
          b->events = store::read_all(tx, *from, static_cast<int64_t>(o.batch_size), no_payload);
        }
        if (b->events.empty()) break;
        from = events::position_of(b->events.back());
        read_total += b->events.size();
        if (!line.push(std::move(b))) return;
      }
      line.close();
    } catch (...) {
      line.fail(std::current_exception());
    }
  });
  std::vector<std::thread> threads;
  for (size_t i = 0; i < appliers; ++i)
    threads.emplace_back([&, i] {
      auto name = "catch-up-" + std::to_string(i + 1);
      ::pthread_setname_np(::pthread_self(), name.c_str());
      try {
        std::vector<engine*> mine;
        for (size_t e = i; e < engines.size(); e += appliers) mine.push_back(engines[e].get());
        auto c = open("beampipe-" + name);
        while (auto b = line.take(i)) {
          for (auto* eng : mine) eng->step(*c, *b, o.until);
          auto passed = line.applied(i);
          if (passed && o.progress) {
            std::lock_guard lk(progress_m);
            o.progress(*passed);
          }
        }
        if (line.error()) return;
        // Whatever the read-ahead did not serve (a projection behind a batch, events past the
        // reader's last fence): the engines' own reads, until they are caught up.
        for (auto* eng : mine) eng->catch_up(*c, o.batch_size, o.until);
      } catch (...) {
        line.fail(std::current_exception());
      }
    });
  reader.join();
  for (auto& t : threads) t.join();
  if (auto e = line.error()) std::rethrow_exception(e);
  return read_total;
}

}  // namespace beampipe::projections
