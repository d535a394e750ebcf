#include "projections/verify.hpp"

#include "projections/catch_up.hpp"
#include "store/db.hpp"

namespace beampipe::projections {

verify_report verify_replay(const std::string& conninfo,
                            const std::function<std::shared_ptr<engine>()>& make_engine,
                            const std::function<void(size_t)>& progress) {
  verify_report report;
  auto live_engine = make_engine();
  auto tables = live_engine->all_tables();
  auto conn = store::connect(conninfo, "beampipe-verify");

  // 1. A fresh shadow schema with the same table definitions.
  {
    pqxx::work tx{*conn};
    tx.exec("DROP SCHEMA IF EXISTS " + std::string(kShadowSchema) + " CASCADE");
    tx.exec("CREATE SCHEMA " + std::string(kShadowSchema));
    auto all = tables;
    all.push_back("projection_checkpoints");
    all.push_back("projection_dead_letters");  // the replay records its own
    for (const auto& t : all)
      tx.exec("CREATE TABLE " + std::string(kShadowSchema) + "." + tx.quote_name(t) +
              " (LIKE public." + tx.quote_name(t) + " INCLUDING ALL)");
    tx.commit();
  }

  // 2. Live checkpoints and digests from one consistent snapshot.
  std::map<std::string, events::read_position> bounds;
  std::vector<table_digest> live;
  {
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx{
        *conn};
    tx.exec("SET LOCAL search_path = public");
    for (const auto& cp : live_engine->checkpoints(tx)) bounds[cp.name] = cp.at;
    live = digest_tables(tx, tables);
  }

  // 3. Replay into the shadow schema up to exactly those checkpoints.
  auto in_shadow = [](pqxx::connection& c) {
    pqxx::nontransaction nt{c};
    nt.exec("SET search_path = " + std::string(kShadowSchema) + ", public");
  };
  auto shadow_conn = store::connect(conninfo, "beampipe-verify-shadow");
  in_shadow(*shadow_conn);
  catch_up_options o;
  o.until = &bounds;
  o.progress = progress;
  o.prepare = in_shadow;
  report.events_replayed =
      catch_up_together(conninfo, engines_by_group(make_engine()->projections()), o);
  std::vector<table_digest> shadow;
  {
    pqxx::read_transaction tx{*shadow_conn};
    shadow = digest_tables(tx, tables);
  }
  for (size_t i = 0; i < tables.size(); ++i)
    report.tables.push_back({tables[i], live[i], shadow[i]});

  pqxx::work tx{*conn};
  tx.exec("DROP SCHEMA IF EXISTS " + std::string(kShadowSchema) + " CASCADE");
  tx.commit();
  return report;
}

}  // namespace beampipe::projections
