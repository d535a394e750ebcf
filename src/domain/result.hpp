// A value or an error message, for pure operations that can fail on bad input.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace beampipe::domain {

struct DomainError {
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(DomainError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  const std::string& error() const { return std::get<DomainError>(v_).message; }

 private:
  std::variant<T, DomainError> v_;
};

// For operations with no value: ok, or an error message.
struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace beampipe::domain
