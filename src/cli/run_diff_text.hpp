#pragma once
// A run diff (GET /executions/{a}/diff/{b}) as lines of text: `beampipe audit diff` prints
// them, and the terminal console shows them in its pager.
#include <boost/json.hpp>
#include <string>
#include <vector>

namespace beampipe::cli {

std::vector<std::string> run_diff_lines(const boost::json::value& diff);

}  // namespace beampipe::cli
