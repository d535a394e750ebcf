#pragma once
// Events of worker streams ("worker-<uuid_v5(worker id)>"): an operator drained a worker (it
// claims nothing new and finishes what it holds) or resumed it.
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct worker_drained {
  static constexpr const char* kType = type::worker_drained;
  static constexpr int kVersion = 1;
  std::string worker_id;
  std::string reason;  // as the operator gave it; may be empty
};
BOOST_DESCRIBE_STRUCT(worker_drained, (), (worker_id, reason))

struct worker_resumed {
  static constexpr const char* kType = type::worker_resumed;
  static constexpr int kVersion = 1;
  std::string worker_id;
};
BOOST_DESCRIBE_STRUCT(worker_resumed, (), (worker_id))

}  // namespace beampipe::events
