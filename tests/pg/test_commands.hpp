#pragma once
// A command as the tests send it: from the test's system actor, with a fixed correlation id.
#include <string>

#include "actors/runtime.hpp"

namespace beampipe::test {

inline actors::command_request command(const std::string& stream, const std::string& name,
                                       boost::json::object body) {
  actors::command_request r;
  r.stream_id = stream;
  r.cmd.name = name;
  r.cmd.body = std::move(body);
  r.cmd.actor = "system:test";
  r.correlation_id = "corr-1";
  return r;
}

}  // namespace beampipe::test
