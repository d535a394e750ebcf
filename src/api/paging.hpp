#pragma once
// Lists answer a JSON array (the reference contract) with the total number of matching rows in
// X-Total-Count, counted under the same filters as the page.
#include <string>
#include <vector>

#include "api/app.hpp"
#include "store/paging.hpp"

namespace beampipe::api {

struct page_request {
  int64_t limit = 100;
  int64_t offset = 0;
};

// ?limit (1..max_limit, default default_limit) and ?offset (>= 0, default 0).
page_request page_params(const request& req, int64_t default_limit, int64_t max_limit);

// One page of rows and the total under the same filters (what every slice's listing answers).
using page_result = store::page_rows;

// Runs `<select>, count(*) OVER () <from> <order> LIMIT .. OFFSET ..`. `select` yields each
// row's JSON in its first column; `from` is the FROM ... WHERE ... part using $1..$n (the
// filters, passed as text); `order` the ORDER BY clause.
page_result query_page(app_context& ctx, const std::string& select, const std::string& from,
                       const std::string& order, const std::vector<std::string>& filters,
                       const page_request& page);
// 200 with the rows and X-Total-Count.
response page_response(page_result page);
// query_page, answered.
response list_page(app_context& ctx, const std::string& select, const std::string& from,
                   const std::string& order, const std::vector<std::string>& filters,
                   const page_request& page);

// ?page (from 1) and ?items_per_page (1..500, default 50): the numbered pages of the operator
// lists, answered as one object {items, total, page, items_per_page}.
struct numbered_page {
  int64_t page = 1;
  int64_t items_per_page = 50;
  int64_t offset() const { return (page - 1) * items_per_page; }
};
numbered_page numbered_page_params(const request& req);
response numbered_page_response(page_result rows, const numbered_page& page);

}  // namespace beampipe::api
