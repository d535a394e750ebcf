#pragma once
// What runs record of a project's WebAssembly hooks (spec §5.9, issue #25): which module and
// hook ran, how long it took, and whether its output was used. Discovery's and the execute
// step's events carry one entry per hook that ran.
#include "events/codec.hpp"

namespace beampipe::events {

struct hook_run {
  std::string module_sha256;
  std::string hook;  // prepare_metadata | manifest | graph_patches
  int64_t duration_ms = 0;
  // prepare_metadata only: the hook failed and the declarative output was kept.
  bool fell_back = false;
  std::optional<std::string> error;  // why the hook's output was not used
};
BOOST_DESCRIBE_STRUCT(hook_run, (), (module_sha256, hook, duration_ms, fell_back, error))

}  // namespace beampipe::events
