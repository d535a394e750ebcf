#pragma once
// The projection engine. Each projection folds events (in the store's (tx_id, position)
// order) into its read-model tables. A batch is applied in one transaction that also
// writes the checkpoint, so an event is applied exactly once or not at all. Rows are
// handled as JSON in a per-batch cache and written back with one set-based statement per
// table, which is what makes rebuilds fast.
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "events/envelope.hpp"

namespace beampipe::projections {

namespace json = boost::json;

struct table_spec {
  std::string name;
  std::string key_column;
  std::string key_type;  // SQL type of the key, e.g. "uuid"
};

// How a projection's own row type maps to its table's columns (see row_cache::find_as).
template <class Row>
struct row_type {
  Row (*from_columns)(const json::object&);
  json::object (*columns)(const Row&);
};

// Rows of the tables a batch touches, keyed by (table, key). Rows the batch reads are
// prefetched in one query per table; dirty rows are written back at the end of the batch.
class row_cache {
 public:
  // The row as this batch has it (put or edited), else as the table holds it; null: none.
  const json::object* find(const std::string& table, const std::string& key);
  // The row to change in place (then mark_dirty); null when there is none. The stored row is
  // copied on the first edit only, so rows that are only read or replaced are never copied.
  json::object* edit(const std::string& table, const std::string& key);
  json::object& put(const std::string& table, const std::string& key, json::object row);
  void mark_dirty(const std::string& table, const std::string& key);
  // The row as a projection's own type, kept so for the rest of the batch and turned into
  // columns once, when the batch is written: a stream with many events in a batch is folded
  // into one struct, not decoded and encoded again for each. Null when there is no row. A row
  // changed in place is then marked dirty, as with edit(). One table, one Row type.
  template <class Row>
  Row* find_as(const row_type<Row>& type, const std::string& table, const std::string& key);
  template <class Row>
  Row& put_as(const row_type<Row>& type, const std::string& table, const std::string& key, Row row);
  void erase(const std::string& table, const std::string& key);
  // Deletes the rows of an insert-only table (one no projection reads back) whose
  // `time_column` is earlier than `before`, and whose `scope_column` equals `scope` when that
  // is not empty; run after the batch's writes, so rows put earlier in the batch go too.
  void erase_older(const std::string& table, const std::string& time_column,
                   const std::string& before, const std::string& scope_column,
                   const std::string& scope);

 private:
  friend class engine;
  struct typed_row {
    virtual ~typed_row() = default;
    virtual json::object columns() const = 0;
  };
  template <class Row>
  struct typed_row_of : typed_row {
    typed_row_of(const row_type<Row>& t, Row r) : type(t), row(std::move(r)) {}
    json::object columns() const override { return type.columns(row); }
    row_type<Row> type;
    Row row;
  };
  template <class Row>
  static Row& row_of(typed_row& t);
  struct table_rows;
  // The typed row of a key turned back into JSON, when it is read as JSON.
  static void untype(table_rows& t, const std::string& key);
  struct table_rows {
    std::map<std::string, json::object> rows;  // put or edited in this batch
    // Rows held as a projection's type (find_as, put_as): these, not `rows`, are current.
    std::map<std::string, std::unique_ptr<typed_row>> typed;
    std::set<std::string> dirty;
    // The rows that exist in the table, as it holds them (prefetched): an update writes only
    // the columns that differ.
    std::map<std::string, json::object> stored;
    std::set<std::string> erased;
    struct older_than {
      std::string time_column, before, scope_column, scope;
      std::set<std::string> exempt;  // keys written later in the batch: kept
    };
    std::vector<older_than> erase_older;
  };
  std::map<std::string, table_rows> tables_;
};

template <class Row>
Row& row_cache::row_of(typed_row& t) {
  auto* typed = dynamic_cast<typed_row_of<Row>*>(&t);
  if (!typed) throw std::logic_error("a table's rows are read as two different types");
  return typed->row;
}

template <class Row>
Row* row_cache::find_as(const row_type<Row>& type, const std::string& table,
                        const std::string& key) {
  auto& t = tables_[table];
  if (auto it = t.typed.find(key); it != t.typed.end()) return &row_of<Row>(*it->second);
  const auto* columns = find(table, key);
  if (!columns) return nullptr;
  auto held = std::make_unique<typed_row_of<Row>>(type, type.from_columns(*columns));
  auto* row = &held->row;
  t.rows.erase(key);  // its typed form is current from here on
  t.typed[key] = std::move(held);
  return row;
}

template <class Row>
Row& row_cache::put_as(const row_type<Row>& type, const std::string& table, const std::string& key,
                       Row row) {
  auto& t = tables_[table];
  mark_dirty(table, key);
  t.erased.erase(key);
  t.rows.erase(key);
  auto held = std::make_unique<typed_row_of<Row>>(type, std::move(row));
  auto& out = held->row;
  t.typed[key] = std::move(held);
  return out;
}

class projection {
 public:
  virtual ~projection() = default;
  virtual std::string name() const = 0;
  // Projections of one group advance together, under one runner and one lock; groups advance
  // independently of each other. A projection may only read rows of its own tables.
  virtual std::string group() const { return name(); }
  virtual std::vector<table_spec> tables() const = 0;
  virtual bool handles(const std::string& event_type) const = 0;
  // (table, key) pairs apply() will look up, so they can be fetched in bulk first.
  virtual void keys(const events::recorded_event& e, const json::object& data,
                    std::vector<std::pair<std::string, std::string>>& out) const = 0;
  virtual void apply(const events::recorded_event& e, const json::object& data,
                     row_cache& rows) const = 0;
};

struct checkpoint {
  std::string name;
  events::read_position at;
  bool operator==(const checkpoint&) const = default;
};

// An event a projection could not apply: skipped for that projection only (issue #16).
struct dead_letter {
  std::string projection;
  int64_t position = 0;
  std::string event_id;
  std::string event_type;
  std::string stream_id;
  std::string error;
  int attempts = 1;
  std::string recorded_at;
  std::string last_attempt_at;
};

struct retry_outcome {
  std::string projection;
  bool applied = false;
  std::string error;  // when not applied
};

// Events read ahead of the transaction that applies them: every event after `after` up to the
// last one, in the store's order, read below the read fence (no event can later appear among
// them), so any engine whose projections are all at or past `after` may apply them.
struct read_ahead {
  events::read_position after;
  std::vector<events::recorded_event> events;
};

class engine {
 public:
  explicit engine(std::vector<std::shared_ptr<const projection>> projections);

  // Applies the next batch (up to batch_size events) to every projection that is behind.
  // With `until`, never applies an event past that projection's bound (used by verify).
  // Returns the number of events read (0: caught up).
  size_t step(pqxx::connection& c, size_t batch_size,
              const std::map<std::string, events::read_position>* until = nullptr);
  // step() on events read ahead (on another connection, maybe for several engines at once).
  // A projection behind `batch.after` (a gap) has its events read here instead.
  size_t step(pqxx::connection& c, const read_ahead& batch,
              const std::map<std::string, events::read_position>* until = nullptr);
  // Runs step() until caught up (or bounds reached); progress(total) after each batch.
  size_t catch_up(pqxx::connection& c, size_t batch_size,
                  const std::map<std::string, events::read_position>* until = nullptr,
                  const std::function<void(size_t)>& progress = {});

  // Empties the projections' tables, checkpoints and dead letters (all, or the named ones).
  void reset(pqxx::connection& c, const std::vector<std::string>& names = {});

  std::vector<dead_letter> dead_letters(pqxx::connection& c) const;
  // Applies the event at `position` again to each projection that dead-lettered it, now, on
  // top of the rows as they are; an applied one loses its dead letter, a failing one keeps it
  // with the new error. Throws std::invalid_argument when no dead letter has that position.
  std::vector<retry_outcome> retry_dead_letter(pqxx::connection& c, int64_t position);
  std::vector<checkpoint> checkpoints(pqxx::transaction_base& tx) const;
  std::vector<checkpoint> checkpoints(pqxx::connection& c) const;
  // The checkpoints as the last step() left them (read in its transaction, moved by what it
  // committed): what checkpoints(c) would read now, without the round trip, unless another
  // process applies the same group. Empty before the first step.
  const std::vector<checkpoint>& last_checkpoints() const { return last_cps_; }

  const std::vector<std::shared_ptr<const projection>>& projections() const { return projections_; }
  // Event types none of its projections takes (read without their payloads).
  const std::vector<std::string>& types_without_payload() const { return no_payload_; }
  // Rows this engine has inserted by COPY (the rest by one statement per table and batch).
  size_t rows_copied() const { return rows_copied_; }
  // The groups of its projections, sorted and joined with '+' (one group: its name).
  std::string group_name() const;
  std::vector<std::string> all_tables() const;

  // Test hook: runs after events are applied in memory and rows written, before the
  // checkpoint is written and the transaction commits.
  std::function<void()> before_commit;
  // Runs just before a batch commits, with the checkpoints it moves: whoever reads a row of
  // the batch learns of it through this first (the runner tells the watch, so a read's
  // position token covers every row it could have seen, even before the batch is published).
  std::function<void(const std::map<std::string, events::read_position>&)> committing;

 private:
  // One batch in one transaction. `isolate`: one projection at a time in a savepoint of its
  // own, and a projection that cannot apply an event records a dead letter instead of failing
  // the batch (used, one event per batch, after a batch failed).
  size_t apply_batch(pqxx::connection& c, size_t batch_size,
                     const std::map<std::string, events::read_position>* until, bool isolate,
                     const read_ahead* batch = nullptr);
  size_t step(pqxx::connection& c, size_t batch_size,
              const std::map<std::string, events::read_position>* until, const read_ahead* batch);
  // Applies one event to one projection and writes its rows (own row cache).
  void apply_alone(pqxx::transaction_base& tx, const projection& proj,
                   const events::recorded_event& e);
  // Writes what the batch changed; the cache is spent afterwards (emptied).
  void write_rows(pqxx::transaction_base& tx, row_cache& cache);
  void prefetch(pqxx::transaction_base& tx, row_cache& cache,
                const std::map<std::string, std::set<std::string>>& wanted);
  struct column {
    std::string name;
    bool json = false;     // json or jsonb: a value is written as its JSON text
    bool decimal = false;  // float4, float8 or numeric: takes any JSON number's text
  };
  const std::vector<column>& columns_of(pqxx::transaction_base& tx, const std::string& table);
  // Inserts rows with COPY; false (nothing sent) when a value has no COPY form that reads back
  // as jsonb_populate_recordset reads it.
  bool copy_rows(pqxx::transaction_base& tx, const std::string& table,
                 const std::vector<const json::object*>& rows);
  // Takes the advisory lock of each of its groups, in name order (so engines never deadlock).
  pqxx::result lock_groups(pqxx::transaction_base& tx, const std::string& before = {},
                           const std::string& after = {}) const;
  std::string checkpoints_sql(pqxx::transaction_base& tx) const;
  std::vector<checkpoint> checkpoints_from(const pqxx::result& r) const;
  std::vector<std::shared_ptr<const projection>> projections_;
  std::set<std::string> groups_;
  std::map<std::string, table_spec> table_specs_;
  std::map<std::string, std::vector<column>> columns_;
  std::vector<checkpoint> last_cps_;
  std::vector<std::string> no_payload_;  // event types no projection here takes
  size_t rows_copied_ = 0;
};

// Per-table digest: row count and md5 over rows sorted by their text form.
struct table_digest {
  std::string table;
  int64_t rows = 0;
  std::string md5;
  bool operator==(const table_digest&) const = default;
};
std::vector<table_digest> digest_tables(pqxx::transaction_base& tx,
                                        const std::vector<std::string>& tables);

// Every read model (projections/<model>/), in the order rebuilds and digests list them.
// Dead letters per projection (name → count), for /ready and /overview.
std::map<std::string, int64_t> dead_letter_counts(pqxx::transaction_base& tx);

std::vector<std::shared_ptr<const projection>> standard_projections();
// Projections as one engine per group (groups in name order).
std::vector<std::shared_ptr<engine>> engines_by_group(
    const std::vector<std::shared_ptr<const projection>>& projections);
// standard_projections() as one engine per group, for the live runners.
std::vector<std::shared_ptr<engine>> standard_engines_by_group();

}  // namespace beampipe::projections
