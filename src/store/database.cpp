#include "store/database.hpp"

#include <stdexcept>

namespace beampipe::store {

namespace {
constexpr std::array<const char*, kDbRoles> kNames = {
    "api",        "aggregates", "discovery",  "executions", "alert-senders", "admission-tick",
    "job-leases", "heartbeat",  "prober",     "appender",   "projections",   "admission",
    "scheduler",  "alerts",     "maintenance", "cluster"};
size_t index(db_role r) { return static_cast<size_t>(r); }
}  // namespace

const char* to_string(db_role r) { return kNames[index(r)]; }
bool is_pooled(db_role r) { return r < db_role::prober; }

void database::closer::operator()(pqxx::connection* c) const noexcept {
  delete c;
  if (slots) slots->open.fetch_sub(1);
}

database::database(std::string conninfo, db_budgets budgets)
    : conninfo_(std::move(conninfo)), budgets_(budgets.of) {
  for (auto& d : dedicated_) d = std::make_shared<counter>();
}

connection_pool& database::pool(db_role r) {
  if (!is_pooled(r))
    throw std::logic_error(std::string("database: ") + to_string(r) + " is a dedicated role");
  std::lock_guard g(mu_);
  auto& p = pools_[index(r)];
  if (!p)
    p = std::make_unique<connection_pool>(conninfo_, budgets_[index(r)],
                                          std::string("beampipe-") + to_string(r));
  return *p;
}

database::dedicated database::connect(db_role r, const std::string& detail) {
  if (is_pooled(r))
    throw std::logic_error(std::string("database: ") + to_string(r) + " is a pooled role");
  auto slots = dedicated_[index(r)];
  size_t budget = budgets_[index(r)];
  // Take a slot first, so two racing callers cannot both pass the check.
  if (slots->open.fetch_add(1) >= budget) {
    slots->open.fetch_sub(1);
    throw store_error(store_errc::unavailable, std::string("database: the ") + to_string(r) +
                                                   " role holds its budget of " +
                                                   std::to_string(budget) + " connections");
  }
  try {
    auto name = std::string("beampipe-") + to_string(r);
    if (!detail.empty()) name += "-" + detail;
    auto c = store::connect(conninfo_, name);
    return dedicated(c.release(), closer{slots});
  } catch (...) {
    slots->open.fetch_sub(1);
    throw;
  }
}

size_t database::budget(db_role r) const { return budgets_[index(r)]; }

std::vector<db_role_usage> database::usage() const {
  std::vector<db_role_usage> out;
  std::lock_guard g(mu_);
  for (size_t i = 0; i < kDbRoles; ++i) {
    auto r = static_cast<db_role>(i);
    size_t open = is_pooled(r) ? (pools_[i] ? pools_[i]->open() : 0) : dedicated_[i]->open.load();
    out.push_back({r, budgets_[i], open});
  }
  return out;
}

size_t database::total_budget() const {
  size_t n = 0;
  for (auto b : budgets_) n += b;
  return n;
}

}  // namespace beampipe::store
