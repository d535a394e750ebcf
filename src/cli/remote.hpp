#pragma once
// The operator commands that act through a running beampipe's API (spec §11.1 [HEAD]): login and
// logout, status, worker {list, show, pools, leases, drain, resume}, execution {retry, cancel},
// graph prepare. They go through /api/v2 like any client, so the API's rules hold (sign-in,
// superuser writes, validation); nothing is written to the database from here.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace beampipe::cli {

// What a remote command was given on the command line.
struct remote_args {
  std::vector<std::string> positional;  // the command words and their operands
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
  std::string default_url;  // http://BEAMPIPE_BIND_ADDR: the local server
  std::optional<std::string> opt(const std::string& k) const {
    auto it = options.find(k);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
};

// The commands by their first word; each prints its --help, answers 0 on success, 1 when the
// API refused (its error on stderr: code, message and the field), 2 on a usage error.
bool is_remote_command(const std::vector<std::string>& positional);
int run_remote(const remote_args& a);

}  // namespace beampipe::cli
