-- Clustered deployment (issue #23). Streams map to a fixed number of shards
-- (domain/cluster.hpp); each shard is held by one node under a lease whose token grows with
-- every change of owner. The event store refuses an append that carries a token no longer
-- current (store/event_store.cpp), so a paused or cut-off former owner can never write.
-- Operational state, not history: never replayed.
CREATE TABLE shard_leases (
  shard        integer PRIMARY KEY,
  owner        text NOT NULL DEFAULT '',
  token        bigint NOT NULL DEFAULT 0,
  expires_at   timestamptz NOT NULL DEFAULT 'epoch',
  acquired_at  timestamptz
);
-- Members find each other here: a clustered node's address, renewed with its leases.
ALTER TABLE node_heartbeats
  ADD COLUMN cluster_addr text,
  ADD COLUMN cluster_seen timestamptz;
