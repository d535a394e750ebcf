#pragma once
// The correlation id of the work this thread is doing (an API request, an execute job), so
// every log line carries it (JSON logs: "correlation_id") and commands sent on its behalf
// record it in their events' metadata. One id then follows an operator action from HTTP
// through events to backend calls.
#include <string>

namespace beampipe::util {

const std::string& current_correlation_id();  // empty: none

// Sets the thread's correlation id for its lifetime, restoring the previous one after.
class correlation_scope {
 public:
  explicit correlation_scope(std::string id);
  ~correlation_scope();
  correlation_scope(const correlation_scope&) = delete;
  correlation_scope& operator=(const correlation_scope&) = delete;

 private:
  std::string previous_;
};

}  // namespace beampipe::util
