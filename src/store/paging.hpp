#pragma once
// How every slice reads its rows: one page with the total under the same filters, one row as
// the JSON object it selects, a nullable text column.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
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

// The first column of the first row, parsed as the JSON object it holds; none without a row.
std::optional<boost::json::object> first_object(const pqxx::result& r);

// A text column; none when it is null.
std::optional<std::string> text_or_none(const pqxx::field& f);

}  // namespace beampipe::store
