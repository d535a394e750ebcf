#pragma once
// "host:port" as the bind addresses and cluster addresses are written ("[::1]:80" too).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::util {

struct host_port {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;
};
// None unless the text is a non-empty host, a colon and a port of digits up to 65535.
std::optional<host_port> split_host_port(std::string_view text);

}  // namespace beampipe::util
