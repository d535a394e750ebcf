// The process's one database (issue #19): connections are named for their role, a dedicated
// role holds at most its budget, a pool never opens more than its budget, and a slot comes
// back when its connection closes (also after the database object is gone).
#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

#include "pg_fixture.hpp"
#include "store/database.hpp"

using namespace beampipe;
using namespace std::chrono_literals;

namespace {
// Connections of this database's roles that PostgreSQL shows, by application_name.
int64_t sessions_named(pqxx::connection& c, const std::string& name) {
  pqxx::read_transaction tx{c};
  return tx
      .exec_params1(
          "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND "
          "datname = current_database()",
          name)[0]
      .as<int64_t>();
}
}  // namespace

TEST_CASE("a dedicated role holds at most its budget, and a closed connection frees its slot") {
  auto ci = test::fresh_database();
  auto probe = store::connect(ci, "test-probe");
  store::database::dedicated kept;
  {
    store::database db(ci, store::db_budgets{}.set(store::db_role::scheduler, 2));
    auto a = db.connect(store::db_role::scheduler);
    auto b = db.connect(store::db_role::scheduler, "second");
    CHECK(sessions_named(*probe, "beampipe-scheduler") == 1);
    CHECK(sessions_named(*probe, "beampipe-scheduler-second") == 1);
    try {
      db.connect(store::db_role::scheduler);
      FAIL("a third connection beyond the budget of 2 was opened");
    } catch (const store::store_error& e) {
      CHECK(e.code() == store::store_errc::unavailable);
      CHECK(std::string(e.what()).find("scheduler") != std::string::npos);
    }
    CHECK(sessions_named(*probe, "beampipe-scheduler") == 1);  // the refusal opened nothing
    auto usage = db.usage();
    CHECK(usage[static_cast<size_t>(store::db_role::scheduler)].open == 2);
    a.reset();
    auto c = db.connect(store::db_role::scheduler);  // the slot came back
    CHECK(c->is_open());
    CHECK(db.usage()[static_cast<size_t>(store::db_role::scheduler)].open == 2);
    // Pooled and dedicated roles are not interchangeable.
    CHECK_THROWS_AS(db.pool(store::db_role::scheduler), std::logic_error);
    CHECK_THROWS_AS(db.connect(store::db_role::api), std::logic_error);
    kept = std::move(c);
  }
  // The database is gone; its connection still closes cleanly (the slot counter outlives it).
  CHECK(kept->is_open());
  kept.reset();
}

TEST_CASE("a role's pool opens at most its budget and makes a waiter wait, then refuse") {
  auto ci = test::fresh_database();
  auto probe = store::connect(ci, "test-probe");
  store::database db(ci, store::db_budgets{}.set(store::db_role::api, 2));
  auto& pool = db.pool(store::db_role::api);
  CHECK(&pool == &db.pool(store::db_role::api));  // one pool per role
  auto l1 = pool.acquire();
  auto l2 = pool.acquire();
  CHECK(sessions_named(*probe, "beampipe-api") == 2);
  CHECK_THROWS_AS(pool.acquire(50ms), store::store_error);
  CHECK(db.usage()[static_cast<size_t>(store::db_role::api)].open == 2);
  CHECK(db.total_budget() >= 2);
  // A lease given back is taken by the next caller without a new connection.
  std::thread giver([l = std::move(l1)]() mutable {
    std::this_thread::sleep_for(20ms);
    (void)l;
  });
  auto l3 = pool.acquire(5s);
  giver.join();
  CHECK(sessions_named(*probe, "beampipe-api") == 2);
}
