#include "api/paging.hpp"

#include "api/handler_support.hpp"
#include "util/json.hpp"

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
  auto n = filters.size();
  // Appended piecewise: GCC 12 misreports long std::string operator+ chains under -O2.
  std::string sql = select;
  sql.append(", count(*) OVER () ").append(from).append(" ").append(order);
  sql.append(" LIMIT $").append(std::to_string(n + 1)).append("::bigint OFFSET $");
  sql.append(std::to_string(n + 2)).append("::bigint");
  std::vector<std::string> params = filters;
  params.push_back(std::to_string(page.limit));
  params.push_back(std::to_string(page.offset));
  page_result out;
  auto& rows = out.rows;
  auto& total = out.total;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    rows.clear();  // with_connection retries on a broken connection
    total = 0;
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    for (const auto& row : r) {
      rows.push_back(util::parse_stored(row[0].c_str()));
      total = row[1].as<int64_t>();
    }
    // A page past the end has no row to carry the window count.
    if (r.empty() && page.offset > 0) {
      std::string count = "SELECT count(*) ";
      count.append(from);
      total =
          tx.exec_params(count, pqxx::prepare::make_dynamic_params(filters))[0][0].as<int64_t>();
    }
  });
  return out;
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
