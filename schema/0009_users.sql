-- Users (spec §1.7, issue #7): the users read model (from the user events) and the
-- credentials, which are operational state: a password hash never enters the event history.
CREATE TABLE users (
  uuid            uuid PRIMARY KEY,
  username        varchar(20) NOT NULL,
  email           varchar(50) NOT NULL,
  name            varchar(30) NOT NULL,
  is_superuser    boolean NOT NULL,
  disabled        boolean NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  stream_version  bigint NOT NULL
);
CREATE UNIQUE INDEX users_by_username ON users (lower(username));

CREATE TABLE user_credentials (
  user_uuid      uuid PRIMARY KEY,
  password_hash  text NOT NULL,   -- Argon2id, PHC string
  updated_at     timestamptz NOT NULL DEFAULT now()
);
