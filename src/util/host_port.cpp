#include "util/host_port.hpp"

namespace beampipe::util {

std::optional<host_port> split_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  unsigned long port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host_port{std::move(host), static_cast<uint16_t>(port)};
}

}  // namespace beampipe::util
