-- Alerting (issue #8, spec §1.8, §3.9). Channels, rules, deliveries and the triggers they
-- react to are read models folded from events; the secrets of a channel and how long a
-- periodic condition has held are operational state, never replayed.

CREATE TABLE notification_channels (
  uuid            uuid PRIMARY KEY,
  name            text NOT NULL,
  kind            varchar(16) NOT NULL,       -- webhook | email
  config          jsonb NOT NULL,             -- masked: secrets show as "***"
  enabled         boolean NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz,
  stream_version  bigint NOT NULL
);
CREATE INDEX notification_channels_by_name ON notification_channels (name);

CREATE TABLE alert_rules (
  uuid              uuid PRIMARY KEY,
  name              text NOT NULL,
  project_module    varchar(50),              -- null: every project
  enabled           boolean NOT NULL,
  severity          varchar(16) NOT NULL,
  trigger_kind      varchar(40) NOT NULL,
  trigger_config    jsonb NOT NULL,
  channel_ids       jsonb NOT NULL,           -- array of channel uuids
  cooldown_minutes  integer NOT NULL,
  last_fired_at     timestamptz,
  enabled_since     timestamptz NOT NULL,     -- triggers older than this never fire the rule
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz,
  stream_version    bigint NOT NULL
);
CREATE INDEX alert_rules_by_name ON alert_rules (name);

CREATE TABLE alert_deliveries (
  uuid             uuid PRIMARY KEY,
  rule_id          uuid,                      -- null: a channel test
  channel_id       uuid,
  firing_id        uuid,
  status           varchar(16) NOT NULL,      -- pending | sent | failed
  payload          jsonb NOT NULL,
  error            text,
  response_code    integer,                   -- the HTTP status or final SMTP reply
  attempts         integer NOT NULL,
  next_attempt_at  timestamptz,
  test             boolean NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  sent_at          timestamptz
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_recent ON alert_deliveries (created_at DESC, uuid);

-- Events an immediate rule reacts to: one row per execution event that failed a run.
CREATE TABLE alert_triggers (
  id                  uuid PRIMARY KEY,       -- the event's id
  kind                varchar(40) NOT NULL,   -- execution.failed
  project_module      varchar(50),
  execution_id        uuid,
  source_identifiers  jsonb,
  error               text,
  occurred_at         timestamptz NOT NULL,
  position            bigint NOT NULL
);
CREATE INDEX alert_triggers_by_time ON alert_triggers (occurred_at);

-- Which rule has handled which trigger (fired or suppressed in its cooldown).
CREATE TABLE alert_trigger_outcomes (
  id          text PRIMARY KEY,               -- "<rule uuid>/<trigger id>"
  rule_id     uuid NOT NULL,
  trigger_id  uuid NOT NULL,
  outcome     varchar(16) NOT NULL,           -- fired | suppressed
  at          timestamptz NOT NULL
);
CREATE INDEX alert_trigger_outcomes_by_trigger ON alert_trigger_outcomes (trigger_id, rule_id);

-- Operational: a channel's secret config (full webhook URL, header values, routing key).
-- Written by the API before the command that records the masked config; never in events,
-- answers or logs.
CREATE TABLE notification_channel_secrets (
  channel_uuid  uuid PRIMARY KEY,
  secret        jsonb NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Operational: since when a periodic rule's condition has held (for_minutes).
CREATE TABLE alert_conditions (
  rule_id  uuid PRIMARY KEY,
  since    timestamptz NOT NULL
);
