-- Tamper-evident history (issue #22). Every event carries a hash chaining it to the previous
-- event of its stream: SHA-256(previous hash || the event's canonical bytes), computed by the
-- appender (store/event_chain.cpp defines the bytes); the stream keeps its head. Rows from before
-- this migration, and imported ones, are chained by the same code after migrating or importing
-- (hash NULL until then; the partial index finds them).
ALTER TABLE events ADD COLUMN hash bytea;
ALTER TABLE streams ADD COLUMN head_hash bytea;
CREATE INDEX events_unchained ON events (stream_id, stream_version) WHERE hash IS NULL;

-- Checkpoints: a hash chain over the whole history in read order. Checkpoint n covers the events
-- of transactions in [previous below_tx, below_tx), all finished when it was taken, ordered by
-- (tx_id, position): digest = SHA-256(previous digest || the range's positions and hashes). Its
-- digest, kept outside the database, proves everything below it unchanged.
CREATE TABLE audit_checkpoints (
  seq         bigint PRIMARY KEY,
  below_tx    xid8 NOT NULL,
  events      bigint NOT NULL,
  last_position bigint NOT NULL,
  digest      bytea NOT NULL,
  taken_at    timestamptz NOT NULL DEFAULT now()
);
