#include "services/audit_checkpointer.hpp"

#include <spdlog/spdlog.h>

#include "store/event_chain.hpp"

namespace beampipe::services {

audit_checkpointer::audit_checkpointer(store::database& db, std::chrono::seconds every)
    : db_(db), every_(every) {}

audit_checkpointer::~audit_checkpointer() { stop(); }

void audit_checkpointer::start() {
  if (every_.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void audit_checkpointer::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void audit_checkpointer::run() {
  bool failing = false;
  while (true) {
    {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, every_, [this] { return stopping_; })) return;
    }
    try {
      auto c = db_.connect(store::db_role::maintenance, "audit-checkpoint");
      auto cp = store::take_checkpoint(*c);
      if (failing) spdlog::info("audit checkpoints are taken again");
      failing = false;
      if (cp) spdlog::debug("audit checkpoint {}", cp->reference());
    } catch (const std::exception& e) {
      // Once per failing streak: the next interval tries again.
      if (!failing) spdlog::warn("audit checkpoint not taken: {}", e.what());
      failing = true;
    }
  }
}

}  // namespace beampipe::services
