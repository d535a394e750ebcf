#pragma once
// Catching several engines up at once (a rebuild, an import, replay --verify): one reader reads
// the store once, batch by batch, and the engines (one per group: groups take only their own
// lock) apply every batch in threads of their own. Reading, and the groups' applying and
// writing, overlap instead of taking turns.
#include <functional>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "projections/engine.hpp"

namespace beampipe::projections {

struct catch_up_options {
  size_t batch_size = 10000;
  // As engine::catch_up: no event past a projection's bound is applied.
  const std::map<std::string, events::read_position>* until = nullptr;
  // Events every engine has passed, after each batch (from one thread at a time).
  std::function<void(size_t)> progress;
  // Runs on each new connection before use (replay --verify sets its search path).
  std::function<void(pqxx::connection&)> prepare;
  // Batches read but not yet applied by every engine, at most.
  size_t read_ahead = 3;
  // Threads applying batches, each on a connection of its own; the engines are dealt among them
  // in turn (a thread applies each batch with each of its engines). Most groups have little to
  // do in a given store, and each connection is a PostgreSQL backend to start.
  size_t appliers = 2;
};

// Returns the number of events read. The first failure (of the reader or of an engine) stops
// every thread at its next batch and is rethrown once all have stopped.
size_t catch_up_together(const std::string& conninfo,
                         const std::vector<std::shared_ptr<engine>>& engines,
                         const catch_up_options& options = {});

}  // namespace beampipe::projections
