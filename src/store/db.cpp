#include "store/db.hpp"

namespace beampipe::store {

const char* to_string(store_errc c) {
  switch (c) {
    case store_errc::conflict:
      return "conflict";
    case store_errc::unavailable:
      return "unavailable";
    case store_errc::commit_unknown:
      return "commit_unknown";
    case store_errc::invalid:
      return "invalid";
    case store_errc::fenced:
      return "fenced";
    case store_errc::internal:
      return "internal";
  }
  return "internal";
}

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo,
                                          const std::string& application_name) {
  try {
    auto c = std::make_unique<pqxx::connection>(conninfo);
    pqxx::nontransaction tx{*c};
    tx.exec("SET TimeZone = 'UTC'");
    tx.exec("SET idle_in_transaction_session_timeout = '60s'");
    tx.exec("SET application_name = " + tx.quote(application_name));
    return c;
  } catch (const pqxx::broken_connection& e) {
    throw store_error(store_errc::unavailable,
                      std::string("cannot connect to PostgreSQL: ") + e.what());
  }
}

std::string pg_text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

connection_pool::connection_pool(std::string conninfo, size_t size, std::string application_name)
    : conninfo_(std::move(conninfo)), application_name_(std::move(application_name)), size_(size) {}

connection_pool::lease::~lease() {
  if (pool_) pool_->release(std::move(conn_));  // a null (discarded) connection frees its slot
}

connection_pool::lease connection_pool::acquire(std::chrono::milliseconds wait) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, wait, [&] { return !idle_.empty() || created_ < size_; }))
    throw store_error(store_errc::unavailable, "no database connection free within " +
                                                   std::to_string(wait.count()) + " ms (pool of " +
                                                   std::to_string(size_) + " in use)");
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return lease(*this, std::move(c));
  }
  ++created_;
  lk.unlock();
  try {
    return lease(*this, connect(conninfo_, application_name_));
  } catch (...) {
    std::lock_guard g(mu_);
    --created_;
    cv_.notify_one();
    throw;
  }
}

size_t connection_pool::open() const {
  std::lock_guard lk(mu_);
  return created_;
}

void connection_pool::release(std::unique_ptr<pqxx::connection> c) {
  std::lock_guard lk(mu_);
  if (c && c->is_open())
    idle_.push_back(std::move(c));
  else
    --created_;
  cv_.notify_one();
}

}  // namespace beampipe::store
