#pragma once
// Database boundary: connection setup and the mapping of libpqxx/SQLSTATE failures onto
// a few typed store errors, done once here (userver-style) so callers never parse SQL errors.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

namespace beampipe::store {

enum class store_errc {
  conflict,        // expected version did not match, or an event id was reused with other content
  unavailable,     // connection lost or refused; safe to retry
  commit_unknown,  // the commit may or may not have happened; retry with the same event ids
  invalid,         // bad request to the store (empty append, malformed stream id)
  fenced,          // the append's shard lease is no longer this node's (issue #23)
  internal,
};

class store_error : public std::runtime_error {
 public:
  store_error(store_errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  store_errc code() const { return code_; }

 private:
  store_errc code_;
};

const char* to_string(store_errc c);

// Opens a connection and applies the session settings every store session uses
// (UTC, idle-in-transaction timeout so an abandoned transaction cannot hold the read
// fence back forever, application name).
std::unique_ptr<pqxx::connection> connect(const std::string& conninfo,
                                          const std::string& application_name = "beampipe");

// PostgreSQL array literal of text values, quoted and escaped.
std::string pg_text_array(const std::vector<std::string>& values);
// PostgreSQL array literal of integers (bigint[] or int[]).
template <class Ints>
std::string pg_int_array(const Ints& values) {
  std::string out = "{";
  for (auto v : values) out += (out.size() > 1 ? "," : "") + std::to_string(v);
  return out + "}";
}

// A small blocking pool of connections for read paths (API queries).
class connection_pool {
 public:
  connection_pool(std::string conninfo, size_t size, std::string application_name);
  class lease {
   public:
    lease(connection_pool& p, std::unique_ptr<pqxx::connection> c)
        : pool_(&p), conn_(std::move(c)) {}
    lease(lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) { o.pool_ = nullptr; }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    void discard() { conn_.reset(); }  // after a broken connection

   private:
    connection_pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };
  // Waits at most `wait` for a free connection, then throws store_error(unavailable): a
  // stalled database must not park every caller forever.
  lease acquire(std::chrono::milliseconds wait = std::chrono::seconds(10));
  const std::string& conninfo() const { return conninfo_; }
  size_t open() const;  // connections made and not yet closed (idle or leased)

 private:
  void release(std::unique_ptr<pqxx::connection> c);
  std::string conninfo_;
  std::string application_name_;
  size_t size_;
  size_t created_ = 0;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
};

// Runs fn(connection) with a pooled connection, dropping the connection if it broke.
// Runs `sql` as a statement prepared on this connection under `name` (once: libpqxx prepares
// it on first use and keeps it), so a query on the request path is parsed and planned once
// per connection rather than on every call. One name, one text.
template <class... Args>
pqxx::result exec_prepared_once(pqxx::transaction_base& tx, const std::string& name,
                                const std::string& sql, Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

template <class F>
auto with_connection(connection_pool& pool, F&& fn) {
  auto l = pool.acquire();
  try {
    return fn(*l);
  } catch (const pqxx::broken_connection&) {
    l.discard();
    throw store_error(store_errc::unavailable, "database connection lost");
  }
}

}  // namespace beampipe::store
