-- The event store: the only source of truth.
CREATE TABLE events (
  position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Writing transaction. Readers only consume events whose transaction is older than
  -- every running one and order by (tx_id, position), so a slow transaction that
  -- commits late can never land behind a reader's checkpoint.
  tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id        uuid NOT NULL UNIQUE,
  stream_id       text NOT NULL,
  stream_type     text NOT NULL,
  stream_version  bigint NOT NULL CHECK (stream_version > 0),
  event_type      text NOT NULL,
  schema_version  integer NOT NULL DEFAULT 1,
  -- json (not jsonb): byte-exact, and markedly faster to write and read back.
  data            json NOT NULL,
  metadata        json NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_read_order ON events (tx_id, position);
CREATE INDEX events_by_type ON events (event_type, position);

CREATE TABLE streams (
  stream_id    text PRIMARY KEY,
  stream_type  text NOT NULL,
  version      bigint NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Aggregate snapshots bound replay for long streams; always rebuildable from events.
CREATE TABLE snapshots (
  stream_id       text PRIMARY KEY,
  version         bigint NOT NULL,
  schema_version  integer NOT NULL,
  state           json NOT NULL,
  taken_at        timestamptz NOT NULL DEFAULT now()
);
