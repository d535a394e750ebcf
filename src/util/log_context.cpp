#include "util/log_context.hpp"

#include <utility>

namespace beampipe::util {
namespace {
thread_local std::string t_correlation;
}

const std::string& current_correlation_id() { return t_correlation; }

correlation_scope::correlation_scope(std::string id)
    : previous_(std::exchange(t_correlation, std::move(id))) {}

correlation_scope::~correlation_scope() { t_correlation = std::move(previous_); }

}  // namespace beampipe::util
