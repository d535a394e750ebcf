-- Events a projection could not apply (issue #16): recorded in the projection's own
-- transaction together with its checkpoint moving past the event, so the event is skipped for
-- that projection only, exactly once. `beampipe projections dead-letters [--retry POSITION]`
-- lists and retries them; resetting a projection (rebuild) clears its dead letters.
CREATE TABLE projection_dead_letters (
  projection      text        NOT NULL,
  position        bigint      NOT NULL,
  tx_id           xid8        NOT NULL,
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  stream_id       text        NOT NULL,
  error           text        NOT NULL,
  attempts        integer     NOT NULL DEFAULT 1,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, position)
);
