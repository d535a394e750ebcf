#include "store/paging.hpp"

#include "util/json.hpp"

namespace beampipe::store {

page_rows read_page(pqxx::transaction_base& tx, const std::string& select, const std::string& from,
                    const std::string& order, const std::vector<std::string>& filters,
                    int64_t limit, int64_t offset) {
  auto n = filters.size();
  // Appended piecewise: GCC 12 misreports long std::string operator+ chains under -O2.
  std::string sql = select;
  sql.append(", count(*) OVER () ").append(from).append(" ").append(order);
  sql.append(" LIMIT $").append(std::to_string(n + 1)).append("::bigint OFFSET $");
  sql.append(std::to_string(n + 2)).append("::bigint");
  std::vector<std::string> params = filters;
  params.push_back(std::to_string(limit));
  params.push_back(std::to_string(offset));
  page_rows out;
  auto r = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  for (const auto& row : r) {
    out.rows.push_back(util::parse_stored(row[0].c_str()));
    out.total = row[1].as<int64_t>();
  }
  // A page past the end has no row to carry the window count.
  if (r.empty() && offset > 0) {
    std::string count = "SELECT count(*) ";
    count.append(from);
    out.total =
        tx.exec_params(count, pqxx::prepare::make_dynamic_params(filters))[0][0].as<int64_t>();
  }
  return out;
}

std::optional<boost::json::object> first_object(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  return util::parse_stored(r[0][0].c_str()).as_object();
}

std::optional<std::string> text_or_none(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

}  // namespace beampipe::store
