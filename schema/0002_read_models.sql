-- Read models: projections of the event store. Rebuildable from position 0; every value
-- comes from events (timestamps are event recorded_at), so a rebuild gives the same bytes.
CREATE TABLE projection_checkpoints (
  name        text PRIMARY KEY,
  tx_id       xid8 NOT NULL DEFAULT '0',
  position    bigint NOT NULL DEFAULT 0
);

CREATE TABLE source_registry (
  uuid                               uuid PRIMARY KEY,
  project_module                     varchar(50) NOT NULL,
  source_identifier                  varchar(100) NOT NULL,
  enabled                            boolean NOT NULL DEFAULT false,
  deleted                            boolean NOT NULL DEFAULT false,
  created_at                         timestamptz NOT NULL,
  updated_at                         timestamptz NOT NULL,
  last_checked_at                    timestamptz,
  last_attempted_at                  timestamptz,
  stale_after_hours                  integer,
  discovery_signature                varchar(64),
  last_executed_discovery_signature  varchar(64),
  discovery_claim_token              varchar(64),
  discovery_claim_expires_at         timestamptz,
  workflow_run_pending               boolean NOT NULL DEFAULT false,
  workflow_run_pending_at            timestamptz,
  workflow_claim_token               varchar(64),
  workflow_claimed_at                timestamptz,
  workflow_claim_expires_at          timestamptz,
  stream_version                     bigint NOT NULL,
  UNIQUE (project_module, source_identifier)
);
CREATE INDEX source_registry_listing ON source_registry (project_module, created_at DESC);

CREATE TABLE batch_execution_record (
  uuid                   uuid PRIMARY KEY,
  project_module         varchar(50) NOT NULL,
  sources                jsonb NOT NULL,
  archive_name           varchar(50) NOT NULL,
  deployment_profile_id  uuid,
  project_config_id      uuid,
  workflow_manifest      jsonb,
  execution_phase        varchar(32),
  scheduler_name         varchar(50),
  scheduler_job_id       varchar(512),
  last_error             text,
  created_by             text,
  status                 varchar(32) NOT NULL DEFAULT 'pending' CHECK (status IN
                           ('pending','running','awaiting_scheduler','not_submitted','completed',
                            'failed','retrying','cancelled')),
  retry_count            integer NOT NULL DEFAULT 0,
  created_at             timestamptz NOT NULL,
  updated_at             timestamptz NOT NULL,
  started_at             timestamptz,
  completed_at           timestamptz,
  stream_version         bigint NOT NULL
);
CREATE INDEX batch_execution_record_listing ON batch_execution_record (project_module, created_at DESC);

CREATE TABLE provenance_events (
  id                 uuid PRIMARY KEY,
  occurred_at        timestamptz NOT NULL,
  event_type         text NOT NULL,
  project_module     text NOT NULL,
  source_identifier  text,
  execution_id       uuid,
  actor              text,
  correlation_id     text,
  payload            jsonb NOT NULL DEFAULT '{}',
  position           bigint NOT NULL
);
CREATE INDEX provenance_by_project ON provenance_events (project_module, occurred_at);
CREATE INDEX provenance_by_execution ON provenance_events (execution_id, occurred_at);
CREATE INDEX provenance_by_source ON provenance_events (project_module, source_identifier, occurred_at);
