#pragma once
// Events of the scheduler stream ("scheduler-main").
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct scheduler_ticked {
  static constexpr const char* kType = type::scheduler_ticked;
  static constexpr int kVersion = 1;
  int64_t lease_token = 0;  // fencing: a tick under an older token is refused
  std::string node;
  int64_t tick = 0;
  boost::json::value discovery;  // what the tick admitted (its summary), or null
  boost::json::value execution;
  omitted<int64_t> duration_ms;  // how long the admission ran (absent in older ticks)
};
BOOST_DESCRIBE_STRUCT(scheduler_ticked, (),
                      (lease_token, node, tick, discovery, execution, duration_ms))

}  // namespace beampipe::events
