#pragma once
// The upcasters from version 1 execution payloads (events/execution.hpp) to version 2.
#include <string_view>
#include <utility>
#include <vector>

#include "events/catalog.hpp"
#include "events/types.hpp"

namespace beampipe::events {

// (type, its version 1 → 2 upcaster), for every execution type at version 2.
std::vector<std::pair<std::string_view, upcaster>> execution_v1_upcasters();

}  // namespace beampipe::events
