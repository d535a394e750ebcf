-- Sign-in sessions (issue #7): the read model of the session streams, which the auth check
-- reads on every request (revoked families, the current refresh token id), and the rate-limit
-- windows shared by every API node. The windows are UNLOGGED: counters lost in a crash only
-- reopen a window early, and they must not cost a WAL flush per request.
CREATE TABLE auth_sessions (
  family              uuid PRIMARY KEY,
  user_uuid           uuid NOT NULL,
  username            varchar(20) NOT NULL,
  refresh_jti         text NOT NULL,
  refresh_expires_at  timestamptz,
  started_at          timestamptz NOT NULL,
  refreshed_at        timestamptz,
  revoked_at          timestamptz,
  revoked_reason      text,
  stream_version      bigint NOT NULL
);
CREATE INDEX auth_sessions_by_user ON auth_sessions (user_uuid);

CREATE UNLOGGED TABLE rate_limit_windows (
  subject       text NOT NULL,    -- client address
  route         text NOT NULL,    -- route pattern
  window_start  bigint NOT NULL,  -- unix seconds, a multiple of the period
  hits          integer NOT NULL,
  PRIMARY KEY (subject, route, window_start)
);
