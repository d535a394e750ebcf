-- Which beampipe processes are alive (issue #8, /ready "workers"): each process upserts its row
-- every heartbeat interval. Operational state, not history: no events, never replayed.
CREATE TABLE node_heartbeats (
  node_id     text PRIMARY KEY,
  host        text NOT NULL,
  pid         integer NOT NULL,
  roles       text NOT NULL,        -- "api,workers", "api" or "workers"
  version     text NOT NULL,
  started_at  timestamptz NOT NULL,
  last_seen   timestamptz NOT NULL,
  stopped_at  timestamptz           -- set by a clean shutdown
);
