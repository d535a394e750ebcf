#include "api/paging.hpp"

#include "api/handler_support.hpp"
#include "store/paging.hpp"

namespace beampipe::api {
namespace json = boost::json;

page_request page_params(const request& req, int64_t default_limit, int64_t max_limit) {
  page_request p;
  p.limit = int_param(req, "limit", default_limit, 1, max_limit);
  p.offset = int_param(req, "offset", 0, 0, INT64_MAX);
  return p;
}

numbered_page numbered_page_params(const request& req) {
  numbered_page p;
  p.page = int_param(req, "page", 1, 1, 1'000'000);
  p.items_per_page = int_param(req, "items_per_page", 50, 1, 500);
  return p;
}

response numbered_page_response(page_result rows, const numbered_page& page) {
  return json_response(200, boost::json::object{{"items", std::move(rows.rows)},
                                                {"total", rows.total},
                                                {"page", page.page},
                                                {"items_per_page", page.items_per_page}});
}

page_result query_page(app_context& ctx, const std::string& select, const std::string& from,
                       const std::string& order, const std::vector<std::string>& filters,
                       const page_request& page) {
  return store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    return store::read_page(tx, select, from, order, filters, page.limit, page.offset);
  });
}

response page_response(page_result page) {
  auto res = json_response(200, page.rows);
  res.headers.emplace_back("X-Total-Count", std::to_string(page.total));
  return res;
}

response list_page(app_context& ctx, const std::string& select, const std::string& from,
                   const std::string& order, const std::vector<std::string>& filters,
                   const page_request& page) {
  return page_response(query_page(ctx, select, from, order, filters, page));
}

}  // namespace beampipe::api
