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
