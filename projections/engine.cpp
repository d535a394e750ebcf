#include "projections/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/tablewriter>
#include <stdexcept>

#include "events/catalog.hpp"
#include "events/validity.hpp"
#include "store/db.hpp"
#include "store/event_store.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace beampipe::projections {

void row_cache::untype(table_rows& t, const std::string& key) {
  auto it = t.typed.find(key);
  if (it == t.typed.end()) return;
  t.rows[key] = it->second->columns();
  t.typed.erase(it);
}

const json::object* row_cache::find(const std::string& table, const std::string& key) {
  auto t = tables_.find(table);
  if (t == tables_.end()) return nullptr;
  untype(t->second, key);
  if (auto r = t->second.rows.find(key); r != t->second.rows.end()) return &r->second;
  if (t->second.erased.count(key)) return nullptr;
  auto r = t->second.stored.find(key);
  return r == t->second.stored.end() ? nullptr : &r->second;
}

json::object* row_cache::edit(const std::string& table, const std::string& key) {
  const auto* row = find(table, key);
  if (!row) return nullptr;
  auto& rows = tables_[table].rows;
  if (auto r = rows.find(key); r != rows.end()) return &r->second;
  return &(rows[key] = *row);  // the stored row, copied on its first edit
}

json::object& row_cache::put(const std::string& table, const std::string& key, json::object row) {
  auto& t = tables_[table];
  t.dirty.insert(key);
  for (auto& o : t.erase_older) o.exempt.insert(key);  // written after that purge: kept
  t.erased.erase(key);
  t.typed.erase(key);
  return t.rows[key] = std::move(row);
}

void row_cache::erase_older(const std::string& table, const std::string& time_column,
                            const std::string& before, const std::string& scope_column,
                            const std::string& scope) {
  tables_[table].erase_older.push_back({time_column, before, scope_column, scope, {}});
}

void row_cache::mark_dirty(const std::string& table, const std::string& key) {
  auto& t = tables_[table];
  t.dirty.insert(key);
  for (auto& o : t.erase_older) o.exempt.insert(key);
}

void row_cache::erase(const std::string& table, const std::string& key) {
  auto& t = tables_[table];
  t.rows.erase(key);
  t.typed.erase(key);
  t.dirty.erase(key);
  t.erased.insert(key);
}

engine::engine(std::vector<std::shared_ptr<const projection>> projections)
    : projections_(std::move(projections)) {
  for (const auto& p : projections_) {
    groups_.insert(p->group());
    for (const auto& t : p->tables()) table_specs_[t.name] = t;
  }
  // Types none of these projections takes: read without their payloads. A type the catalog
  // does not know is read whole.
  for (const auto& k : events::all_kinds()) {
    std::string type(k.type);
    if (std::none_of(projections_.begin(), projections_.end(),
                     [&](const auto& p) { return p->handles(type); }))
      no_payload_.push_back(std::move(type));
  }
}

std::vector<std::string> engine::all_tables() const {
  std::vector<std::string> out;
  for (const auto& [name, spec] : table_specs_) out.push_back(name);
  return out;
}

// Serialises the engines of one group on one schema across processes (and a whole-store
// engine, which takes every group's lock, against all of them); an advisory lock takes no xid,
// so it does not hold back the read fence of other readers.
// `before` and `after` (statements of the simple protocol) are sent in the same round trip;
// the result is the last statement's.
pqxx::result engine::lock_groups(pqxx::transaction_base& tx, const std::string& before,
                                 const std::string& after) const {
  std::string sql = before;
  for (const auto& g : groups_)
    sql +=
        "SELECT pg_advisory_xact_lock(hashtextextended('beampipe:projections:' || "
        "current_schema() || ':' || " +
        tx.quote(g) + ", 0));";
  sql += after;
  if (sql.empty()) return {};
  return tx.exec(sql);
}

std::string engine::group_name() const {
  std::string out;
  for (const auto& g : groups_) out += (out.empty() ? "" : "+") + g;
  return out;
}

// The checkpoint read as a simple-protocol statement, so a batch can send it with its lock.
std::string engine::checkpoints_sql(pqxx::transaction_base& tx) const {
  std::vector<std::string> names;
  for (const auto& p : projections_) names.push_back(p->name());
  return "SELECT name, tx_id::text, position FROM projection_checkpoints WHERE name = ANY(" +
         tx.quote(store::pg_text_array(names)) + "::text[])";
}

std::vector<checkpoint> engine::checkpoints_from(const pqxx::result& r) const {
  std::map<std::string, events::read_position> found;
  for (const auto& row : r)
    found[row[0].as<std::string>()] = {std::stoll(row[1].as<std::string>()), row[2].as<int64_t>()};
  std::vector<checkpoint> out;
  for (const auto& p : projections_) {
    auto it = found.find(p->name());
    out.push_back({p->name(), it == found.end() ? events::read_position{} : it->second});
  }
  return out;
}

std::vector<checkpoint> engine::checkpoints(pqxx::transaction_base& tx) const {
  return checkpoints_from(tx.exec(checkpoints_sql(tx)));
}

std::vector<checkpoint> engine::checkpoints(pqxx::connection& c) const {
  pqxx::nontransaction tx{c};  // one statement: no BEGIN/ROLLBACK round trips
  return checkpoints(tx);
}

const std::vector<engine::column>& engine::columns_of(pqxx::transaction_base& tx,
                                                      const std::string& table) {
  auto it = columns_.find(table);
  if (it != columns_.end()) return it->second;
  auto r = tx.exec_params(
      "SELECT attname, atttypid IN ('json'::regtype, 'jsonb'::regtype), atttypid IN "
      "('float4'::regtype, 'float8'::regtype, 'numeric'::regtype) FROM pg_attribute WHERE "
      "attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
      table);
  std::vector<column> cols;
  for (const auto& row : r)
    cols.push_back({row[0].as<std::string>(), row[1].as<bool>(), row[2].as<bool>()});
  if (cols.empty()) throw std::runtime_error("projection table " + table + " does not exist");
  return columns_[table] = std::move(cols);
}

namespace {

constexpr size_t kCopyRows = 64;

// Appends `v` as one field of COPY's text format: backslash, newline, return and tab escaped.
void append_copy_escaped(std::string& out, std::string_view v) {
  for (char ch : v) {
    const char* esc = ch == '\\'   ? "\\\\"
                      : ch == '\n' ? "\\n"
                      : ch == '\r' ? "\\r"
                      : ch == '\t' ? "\\t"
                                   : nullptr;
    if (esc)
      out += esc;
    else
      out += ch;
  }
}

// The value as a COPY field for a column, read back as jsonb_populate_recordset reads the same
// value; false for the values it reads otherwise: a fraction in a column that is not a decimal
// or JSON (it would take numeric's text of it: "2" for 2E0) and an object or array in a column
// that is not JSON (jsonb's text of it, spaced).
bool append_copy_field(std::string& out, const json::value* v, bool json_column,
                       bool decimal_column) {
  if (!v || v->is_null()) {
    out += "\\N";
    return true;
  }
  if (json_column || (decimal_column && v->is_double())) {
    append_copy_escaped(out, json::serialize(*v));
    return true;
  }
  switch (v->kind()) {
    case json::kind::string:
      append_copy_escaped(out, v->get_string());
      return true;
    case json::kind::int64:
      out += std::to_string(v->get_int64());
      return true;
    case json::kind::uint64:
      out += std::to_string(v->get_uint64());
      return true;
    case json::kind::bool_:
      out += v->get_bool() ? "true" : "false";
      return true;
    default:
      return false;
  }
}

}  // namespace

bool engine::copy_rows(pqxx::transaction_base& tx, const std::string& table,
                       const std::vector<const json::object*>& rows) {
  const auto& cols = columns_of(tx, table);
  std::string data;
  // Each row's values by column, found in one pass over the row: rows are mostly built in
  // column order, so the column after the last one found is tried first.
  std::vector<const json::value*> fields(cols.size());
  for (const auto* row : rows) {
    std::fill(fields.begin(), fields.end(), nullptr);
    size_t next = 0;
    for (const auto& kv : *row) {
      size_t i = next < cols.size() && cols[next].name == kv.key() ? next : cols.size();
      for (size_t j = 0; i == cols.size() && j < cols.size(); ++j)
        if (cols[j].name == kv.key()) i = j;
      if (i == cols.size()) continue;  // not a column: ignored, as the JSON path ignores it
      fields[i] = &kv.value();
      next = i + 1;
    }
    if (!data.empty()) data += '\n';
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i) data += '\t';
      if (!append_copy_field(data, fields[i], cols[i].json, cols[i].decimal)) return false;
    }
  }
  // tablewriter is the one way libpqxx 6.4 lets a caller send COPY text it has already escaped
  // (stream_to escapes every field itself); its constructor is marked deprecated.
  std::vector<std::string> names;
  for (const auto& c : cols) names.push_back(tx.quote_name(c.name));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  pqxx::tablewriter copy(tx, tx.quote_name(table), names.begin(), names.end());
#pragma GCC diagnostic pop
  copy.write_raw_line(data);  // every row in one message: libpq sends it as one CopyData
  copy.complete();
  rows_copied_ += rows.size();
  return true;
}

void engine::write_rows(pqxx::transaction_base& tx, row_cache& cache) {
  for (auto& [table, rows] : cache.tables_) {
    for (auto& [key, row] : rows.typed) rows.rows[key] = row->columns();
    rows.typed.clear();
  }
  // Deletes first: a batch may delete a row and another row may then take its unique values.
  for (auto& [table, rows] : cache.tables_) {
    std::vector<std::string> gone;
    for (const auto& key : rows.erased)
      if (rows.stored.count(key)) gone.push_back(key);
    if (!gone.empty()) {
      const auto& spec = table_specs_.at(table);
      tx.exec_params("DELETE FROM " + tx.quote_name(table) + " WHERE " +
                         tx.quote_name(spec.key_column) + " = ANY($1::" + spec.key_type + "[])",
                     store::pg_text_array(gone));
    }
    for (const auto& key : gone) rows.stored.erase(key);
    rows.erased.clear();
  }
  for (auto& [table, rows] : cache.tables_) {
    if (rows.dirty.empty()) continue;
    const auto& spec = table_specs_.at(table);
    const auto& cols = columns_of(tx, table);
    // New rows are inserted, stored rows updated: no ON CONFLICT, so each statement does
    // exactly one kind of write (and a rebuild is insert-only). An update sets only the columns
    // whose value differs from the row as it was read (rewriting a wide row's unchanged JSON
    // columns costs PostgreSQL a re-toast each time); rows changing the same columns share
    // one statement, and an unchanged row is not written at all.
    std::map<std::vector<std::string>, std::pair<json::array, std::vector<std::string>>> updates;
    static const json::value null_value;
    std::vector<const json::object*> inserts;
    for (const auto& key : rows.dirty) {
      const auto* row = cache.find(table, key);
      if (!row) continue;  // marked, then erased
      auto was_it = rows.stored.find(key);
      if (was_it == rows.stored.end()) {
        inserts.push_back(row);
        continue;
      }
      const auto& was = was_it->second;
      std::vector<std::string> changed;
      json::object part;
      for (const auto& col : cols) {
        const auto& c = col.name;
        if (c == spec.key_column) continue;
        // A column missing from a row is null, as jsonb_populate_recordset reads it.
        const auto* now = row->if_contains(c);
        const auto* before = was.if_contains(c);
        const auto& value = now ? *now : null_value;
        if (value == (before ? *before : null_value)) continue;
        changed.push_back(c);
        part[c] = value;
      }
      if (changed.empty()) continue;
      part[spec.key_column] = json::value(key);
      auto& u = updates[changed];
      u.first.push_back(std::move(part));
      u.second.push_back(key);
    }
    auto t = tx.quote_name(table);
    auto key = tx.quote_name(spec.key_column);
    for (auto& [changed, u] : updates) {
      std::string set_list;
      for (const auto& c : changed) {
        if (!set_list.empty()) set_list += ", ";
        set_list += tx.quote_name(c) + " = x." + tx.quote_name(c);
      }
      // The ANY() list lets the planner find the rows by key; joined with the record set
      // alone, it scans the whole table.
      tx.exec_params("UPDATE " + t + " SET " + set_list + " FROM jsonb_populate_recordset(NULL::" +
                         t + ", $1::jsonb) x WHERE " + t + "." + key + " = x." + key + " AND " + t +
                         "." + key + " = ANY($2::" + spec.key_type + "[])",
                     json::serialize(u.first), store::pg_text_array(u.second));
    }
    // Many new rows (a rebuild, a busy batch) go by COPY: PostgreSQL parses each value once, not
    // the whole set as one jsonb first. COPY costs a second round trip, so a few rows do not.
    if (!inserts.empty() && (inserts.size() < kCopyRows || !copy_rows(tx, table, inserts))) {
      std::string array;  // serialised row by row (no copy of the rows)
      for (const auto* row : inserts) {
        array += array.empty() ? "[" : ",";
        array += json::serialize(*row);
      }
      tx.exec_params("INSERT INTO " + t + " SELECT * FROM jsonb_populate_recordset(NULL::" + t +
                         ", $1::jsonb)",
                     array + "]");
    }
    rows.dirty.clear();
  }
  // After the writes, so rows put before the purge in this batch go too; rows put after it
  // stay, as they would had the purge ended a batch: the outcome is the same for any batching.
  for (auto& [table, rows] : cache.tables_) {
    const auto& spec = table_specs_.at(table);
    for (const auto& o : rows.erase_older) {
      std::vector<std::string> later(o.exempt.begin(), o.exempt.end());
      tx.exec_params("DELETE FROM " + tx.quote_name(table) + " WHERE " +
                         tx.quote_name(o.time_column) + " < $1::timestamptz AND ($2 = '' OR " +
                         tx.quote_name(o.scope_column) + " = $2) AND NOT (" +
                         tx.quote_name(spec.key_column) + " = ANY($3::" + spec.key_type + "[]))",
                     o.before, o.scope, store::pg_text_array(later));
    }
    rows.erase_older.clear();
  }
  cache.tables_.clear();
}

namespace {

// Is this failure the event's (it will fail the same way every time), rather than the
// database's (connection lost, serialization failure, shutdown, out of resources)?
bool event_fault(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e))
    return false;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    auto cls = sql->sqlstate().substr(0, 2);
    // data exception, integrity constraint, syntax or access rule (a mapping that does not
    // fit this event), program limit exceeded (e.g. nesting)
    return cls == "22" || cls == "23" || cls == "42" || cls == "54";
  }
  return dynamic_cast<const pqxx::failure*>(&e) == nullptr;  // errors of the projection code
}

std::string error_text(const std::exception& e) {
  std::string t = e.what();
  if (t.size() > 2000) t.resize(2000);
  util::make_storable(t);
  return t;
}

// Every checkpoint a batch moves, in one statement.
constexpr const char* kCheckpointUpsert =
    "INSERT INTO projection_checkpoints (name, tx_id, position) SELECT n, t::xid8, p FROM "
    "unnest($1::text[], $2::text[], $3::bigint[]) AS u(n, t, p) "
    "ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position";

}  // namespace

void engine::prefetch(pqxx::transaction_base& tx, row_cache& cache,
                      const std::map<std::string, std::set<std::string>>& wanted) {
  for (const auto& [table, ks] : wanted) {
    const auto& spec = table_specs_.at(table);
    auto r = tx.exec_params("SELECT " + tx.quote_name(spec.key_column) +
                                "::text, row_to_json(t)::text FROM " + tx.quote_name(table) +
                                " t WHERE " + tx.quote_name(spec.key_column) +
                                " = ANY($1::" + spec.key_type + "[])",
                            store::pg_text_array({ks.begin(), ks.end()}));
    auto& tr = cache.tables_[table];
    for (const auto& row : r) {
      auto key = row[0].as<std::string>();
      tr.stored[key] = util::parse_stored(row[1].c_str()).as_object();
    }
  }
}

void engine::apply_alone(pqxx::transaction_base& tx, const projection& proj,
                         const events::recorded_event& e) {
  auto data = events::decode(e);
  std::vector<std::pair<std::string, std::string>> keys;
  proj.keys(e, data, keys);
  std::map<std::string, std::set<std::string>> wanted;
  for (auto& [t, k] : keys) wanted[t].insert(k);
  row_cache cache;
  prefetch(tx, cache, wanted);
  proj.apply(e, data, cache);
  write_rows(tx, cache);
}

size_t engine::step(pqxx::connection& c, size_t batch_size,
                    const std::map<std::string, events::read_position>* until) {
  return step(c, batch_size, until, nullptr);
}

size_t engine::step(pqxx::connection& c, const read_ahead& batch,
                    const std::map<std::string, events::read_position>* until) {
  return batch.events.empty() ? 0 : step(c, batch.events.size(), until, &batch);
}

size_t engine::step(pqxx::connection& c, size_t batch_size,
                    const std::map<std::string, events::read_position>* until,
                    const read_ahead* batch) {
  try {
    return apply_batch(c, batch_size, until, false, batch);
  } catch (const std::exception& e) {
    if (!event_fault(e)) throw;
    // Some event of the batch cannot be applied by some projection. Go through the batch
    // again one event at a time, each projection on its own: the failing pair becomes a dead
    // letter, and every other projection and event goes on.
    spdlog::warn("projection batch failed ({}); applying its events one at a time", e.what());
    size_t total = 0;
    for (size_t i = 0; i < batch_size; ++i) {
      auto n = apply_batch(c, 1, until, true);
      if (n == 0) break;
      total += n;
    }
    return total;
  }
}

size_t engine::apply_batch(pqxx::connection& c, size_t batch_size,
                           const std::map<std::string, events::read_position>* until, bool isolate,
                           const read_ahead* batch) {
  pqxx::work tx{c};
  // Another node's engine holds the lock while it applies a batch; one that holds it longer
  // (a stopped process) must not hang this runner: the runner reports it and tries again.
  // Read models are derived data with their checkpoint in the same transaction: losing the
  // last commits in a crash only means applying those events again. No need to wait for fsync.
  // (One round trip for the settings, the lock and the checkpoints: this runs for every group on
  // every commit.)
  auto cps = checkpoints_from(
      lock_groups(tx, "SET LOCAL lock_timeout = '2s'; SET LOCAL synchronous_commit = off;",
                  checkpoints_sql(tx)));
  last_cps_ = cps;
  events::read_position from = cps.empty() ? events::read_position{} : cps.front().at;
  bool any_behind = false;
  for (const auto& cp : cps) {
    if (until) {
      auto it = until->find(cp.name);
      if (it == until->end() || !(cp.at < it->second)) continue;
    }
    if (!any_behind || cp.at < from) from = cp.at;
    any_behind = true;
  }
  if (!any_behind) return 0;
  // Events read ahead serve when every projection behind is at or past where they begin (those
  // at or before `from` are passed over below, as they are for each projection past `from`).
  std::vector<events::recorded_event> own;
  bool ahead = batch && !(from < batch->after);
  if (!ahead) own = store::read_all(tx, from, static_cast<int64_t>(batch_size), no_payload_);
  const auto& evs = ahead ? batch->events : own;
  if (evs.empty()) return 0;

  // Which projection takes which event: past its checkpoint, within its bound, handled.
  std::vector<std::vector<const projection*>> takers(evs.size());
  std::map<std::string, events::read_position> advanced;
  for (size_t p = 0; p < projections_.size(); ++p) {
    const auto& proj = *projections_[p];
    const auto& cp = cps[p].at;
    const events::read_position* bound = nullptr;
    if (until) {
      auto it = until->find(proj.name());
      if (it == until->end()) continue;
      bound = &it->second;
    }
    for (size_t i = 0; i < evs.size(); ++i) {
      auto pos = events::position_of(evs[i]);
      if (!(cp < pos)) continue;
      if (bound && *bound < pos) break;
      advanced[proj.name()] = pos;
      if (proj.handles(evs[i].type)) takers[i].push_back(&proj);
    }
  }
  if (advanced.empty()) return 0;  // every event read lies past the bounds

  if (isolate) {
    for (size_t i = 0; i < evs.size(); ++i)
      for (const auto* proj : takers[i]) {
        tx.exec("SAVEPOINT projection_event");
        try {
          apply_alone(tx, *proj, evs[i]);
          tx.exec("RELEASE SAVEPOINT projection_event");
        } catch (const std::exception& e) {
          if (!event_fault(e)) throw;
          tx.exec("ROLLBACK TO SAVEPOINT projection_event");
          auto why = error_text(e);
          spdlog::error("projection {} cannot apply {} {} at position {}: {} (dead letter)",
                        proj->name(), evs[i].type, evs[i].event_id, evs[i].position, why);
          tx.exec_params(
              "INSERT INTO projection_dead_letters (projection, position, tx_id, event_id, "
              "event_type, stream_id, error) VALUES ($1, $2, $3::text::xid8, $4::uuid, $5, $6, "
              "$7) ON CONFLICT (projection, position) DO UPDATE SET error = EXCLUDED.error, "
              "attempts = projection_dead_letters.attempts + 1, last_attempt_at = now()",
              proj->name(), evs[i].position, std::to_string(evs[i].tx_id), evs[i].event_id,
              evs[i].type, evs[i].stream_id, why);
        }
      }
  } else {
    // Each event is decoded once, for the keys and for every projection that takes it.
    std::vector<json::object> data(evs.size());
    // Prefetch every row the batch will read, one query per table.
    std::map<std::string, std::set<std::string>> wanted;
    std::vector<std::pair<std::string, std::string>> keys;
    for (size_t i = 0; i < evs.size(); ++i) {
      if (takers[i].empty()) continue;
      data[i] = events::decode(evs[i]);
      for (const auto* proj : takers[i]) {
        keys.clear();
        proj->keys(evs[i], data[i], keys);
        for (auto& [t, k] : keys) wanted[t].insert(k);
      }
    }
    row_cache cache;
    prefetch(tx, cache, wanted);
    for (size_t i = 0; i < evs.size(); ++i)
      for (const auto* proj : takers[i]) proj->apply(evs[i], data[i], cache);
    write_rows(tx, cache);
  }
  if (before_commit) before_commit();
  std::vector<std::string> names, tx_ids;
  std::vector<int64_t> positions;
  for (const auto& [name, pos] : advanced) {
    names.push_back(name);
    tx_ids.push_back(std::to_string(pos.tx_id));
    positions.push_back(pos.position);
  }
  store::exec_prepared_once(tx, "engine_checkpoint_upsert", kCheckpointUpsert,
                            store::pg_text_array(names), store::pg_text_array(tx_ids),
                            store::pg_int_array(positions));
  if (committing) committing(advanced);
  tx.commit();
  for (auto& cp : last_cps_)
    if (auto it = advanced.find(cp.name); it != advanced.end()) cp.at = it->second;
  return evs.size();
}

std::vector<dead_letter> engine::dead_letters(pqxx::connection& c) const {
  pqxx::read_transaction tx{c};
  std::vector<dead_letter> out;
  for (const auto& r : tx.exec(
           "SELECT projection, position, event_id::text, event_type, stream_id, error, attempts, "
           "recorded_at::text, last_attempt_at::text FROM projection_dead_letters ORDER BY "
           "position, projection"))
    out.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                   r[6].as<int>(), r[7].as<std::string>(), r[8].as<std::string>()});
  return out;
}

std::vector<retry_outcome> engine::retry_dead_letter(pqxx::connection& c, int64_t position) {
  pqxx::work tx{c};
  lock_groups(tx);
  std::vector<std::string> names;
  for (const auto& r :
       tx.exec_params("SELECT projection FROM projection_dead_letters WHERE position = $1 "
                      "ORDER BY projection FOR UPDATE",
                      position))
    names.push_back(r[0].as<std::string>());
  if (names.empty())
    throw std::invalid_argument("no dead letter at position " + std::to_string(position));
  std::vector<events::recorded_event> evs;
  auto at = tx.exec_params("SELECT tx_id::text FROM events WHERE position = $1", position);
  if (!at.empty())
    evs = store::read_all(tx, {std::stoll(at[0][0].as<std::string>()), position - 1}, 1);
  if (evs.empty() || evs.front().position != position)
    throw std::invalid_argument("the event at position " + std::to_string(position) +
                                " cannot be read");
  std::vector<retry_outcome> out;
  for (const auto& name : names) {
    const projection* proj = nullptr;
    for (const auto& p : projections_)
      if (p->name() == name) proj = p.get();
    if (!proj) {
      out.push_back({name, false, "no such projection in this build"});
      continue;
    }
    tx.exec("SAVEPOINT projection_retry");
    try {
      apply_alone(tx, *proj, evs.front());
      tx.exec("RELEASE SAVEPOINT projection_retry");
      tx.exec_params("DELETE FROM projection_dead_letters WHERE projection = $1 AND position = $2",
                     name, position);
      out.push_back({name, true, ""});
    } catch (const std::exception& e) {
      if (!event_fault(e)) throw;
      tx.exec("ROLLBACK TO SAVEPOINT projection_retry");
      auto why = error_text(e);
      tx.exec_params(
          "UPDATE projection_dead_letters SET error = $3, attempts = attempts + 1, "
          "last_attempt_at = now() WHERE projection = $1 AND position = $2",
          name, position, why);
      out.push_back({name, false, why});
    }
  }
  tx.commit();
  return out;
}

size_t engine::catch_up(pqxx::connection& c, size_t batch_size,
                        const std::map<std::string, events::read_position>* until,
                        const std::function<void(size_t)>& progress) {
  size_t total = 0;
  for (;;) {
    size_t n = step(c, batch_size, until);
    if (n == 0) return total;
    total += n;
    if (progress) progress(total);
  }
}

void engine::reset(pqxx::connection& c, const std::vector<std::string>& names) {
  pqxx::work tx{c};
  lock_groups(tx);
  for (const auto& p : projections_) {
    if (!names.empty() && std::find(names.begin(), names.end(), p->name()) == names.end()) continue;
    for (const auto& t : p->tables()) tx.exec("TRUNCATE " + tx.quote_name(t.name));
    tx.exec_params("DELETE FROM projection_checkpoints WHERE name = $1", p->name());
    tx.exec_params("DELETE FROM projection_dead_letters WHERE projection = $1", p->name());
  }
  tx.commit();
}

std::vector<table_digest> digest_tables(pqxx::transaction_base& tx,
                                        const std::vector<std::string>& tables) {
  std::vector<table_digest> out;
  for (const auto& t : tables) {
    auto r = tx.exec(
        "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "
        "\"C\")), '') FROM " +
        tx.quote_name(t) + " t");
    out.push_back({t, r[0][0].as<int64_t>(), r[0][1].as<std::string>()});
  }
  return out;
}

std::map<std::string, int64_t> dead_letter_counts(pqxx::transaction_base& tx) {
  std::map<std::string, int64_t> out;
  for (const auto& r :
       tx.exec("SELECT projection, count(*) FROM projection_dead_letters GROUP BY 1 ORDER BY 1"))
    out[r[0].as<std::string>()] = r[1].as<int64_t>();
  return out;
}

}  // namespace beampipe::projections
