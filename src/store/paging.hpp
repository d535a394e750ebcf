#pragma once
// One page of a read model's rows with the total under the same filters: how every listing
// reads, whichever slice owns the table.
#include <boost/json.hpp>
#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace beampipe::store {

struct page_rows {
  boost::json::array rows;
  int64_t total = 0;
};

// Runs `<select>, count(*) OVER () <from> <order> LIMIT .. OFFSET ..`. `select` yields each
// row's JSON in its first column; `from` is the FROM ... WHERE ... part using $1..$n (the
// filters, passed as text); `order` the ORDER BY clause.
page_rows read_page(pqxx::transaction_base& tx, const std::string& select, const std::string& from,
                    const std::string& order, const std::vector<std::string>& filters,
                    int64_t limit, int64_t offset);

}  // namespace beampipe::store
