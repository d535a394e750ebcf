// host:port as bind and cluster addresses are written.
#include <doctest/doctest.h>

#include "util/host_port.hpp"

using beampipe::util::split_host_port;

TEST_CASE("split_host_port: host and port, or nothing") {
  auto a = split_host_port("127.0.0.1:7101");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 7101);
  auto v6 = split_host_port("[::1]:0");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);
  for (const char* bad : {"", "7101", ":7101", "host:", "host:70000", "host:12a", "host:-1",
                          "host:123456"})
    CHECK_MESSAGE(!split_host_port(bad), bad);
}
