#pragma once
// Takes an audit checkpoint (store/event_chain.hpp) every interval (BEAMPIPE_AUDIT_CHECKPOINT_
// SECONDS), so the history is covered by digests without an operator asking; nothing is taken
// while nothing new has finished. Checkpoints are serialised in the database, so every node may
// run one.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/database.hpp"

namespace beampipe::services {

class audit_checkpointer {
 public:
  audit_checkpointer(store::database& db, std::chrono::seconds every);
  ~audit_checkpointer();
  void start();  // no-op when the interval is 0
  void stop();

 private:
  void run();
  store::database& db_;
  std::chrono::seconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace beampipe::services
