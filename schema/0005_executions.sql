-- Executions end to end (§1.5 [HEAD], §8.1, §12): the ledger's independent axes and pins,
-- observations and artifacts as projections, and the content-addressed artifact store.
ALTER TABLE batch_execution_record
  ADD COLUMN deployment_profile_revision  integer,
  ADD COLUMN deployment_profile_snapshot  jsonb,
  ADD COLUMN project_config_version       integer,
  ADD COLUMN project_spec_sha256          varchar(64),
  ADD COLUMN discovery_signature          varchar(64),
  ADD COLUMN source_signatures            jsonb,
  ADD COLUMN manifest_sha256              varchar(64),
  ADD COLUMN source_graph_sha256          varchar(64),
  ADD COLUMN patched_graph_sha256         varchar(64),
  ADD COLUMN physical_graph_sha256        varchar(64),
  ADD COLUMN daliuge_session_id           varchar(200),
  ADD COLUMN daliuge_manager_url          text,
  ADD COLUMN remote_session_dir           text,
  ADD COLUMN staging_root                 text,
  ADD COLUMN backend_kind                 varchar(40),
  ADD COLUMN target_fingerprint           varchar(64),
  ADD COLUMN control_phase                varchar(32) NOT NULL DEFAULT 'admitted',
  ADD COLUMN submission_state             varchar(32) NOT NULL DEFAULT 'not_started',
  ADD COLUMN scheduler_state              varchar(32) NOT NULL DEFAULT 'not_submitted',
  ADD COLUMN scheduler_raw_state          text,
  ADD COLUMN scheduler_reason             text,
  ADD COLUMN daliuge_state                varchar(32) NOT NULL DEFAULT 'not_created',
  ADD COLUMN daliuge_raw_status           jsonb,
  ADD COLUMN output_state                 varchar(32) NOT NULL DEFAULT 'not_started',
  ADD COLUMN output_verification_required boolean NOT NULL DEFAULT false,
  ADD COLUMN output_verification_policy   jsonb,
  ADD COLUMN terminal_outcome             varchar(32),
  ADD COLUMN failure_class                varchar(40),
  ADD COLUMN reconciliation_code          varchar(64),
  ADD COLUMN phase_timestamps             jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN last_reconciled_at           timestamptz,
  ADD COLUMN create_idempotency_key       varchar(128),
  ADD COLUMN create_request_sha256        varchar(64),
  ADD COLUMN execute_request              jsonb,
  ADD COLUMN execute_requested_at         timestamptz,
  ADD COLUMN retry_stage                  varchar(32),
  ADD COLUMN submission_intent_at         timestamptz,
  ADD COLUMN submission_node              text,
  ADD COLUMN submission_deadline_at       timestamptz,
  ADD COLUMN submission_receipt_sha256    varchar(64),
  ADD COLUMN submission_abandoned_at      timestamptz,
  ADD COLUMN submission_abandoned         boolean,
  ADD COLUMN submission_detected_after_abandonment boolean,
  ADD COLUMN lookup_history               jsonb,
  ADD COLUMN poll_budget_exhausted        boolean,
  ADD COLUMN cancel_requested             boolean NOT NULL DEFAULT false,
  ADD COLUMN cancel_requested_at          timestamptz,
  ADD COLUMN cancel_reason                text,
  ADD COLUMN sources_finalized            boolean NOT NULL DEFAULT false,
  ADD CONSTRAINT completed_requires_verified_outputs
    CHECK (status <> 'completed' OR NOT output_verification_required OR output_state = 'verified');
-- The execution worker's work list: non-terminal runs, and terminal ones whose sources
-- have not been told yet.
CREATE INDEX batch_execution_record_active ON batch_execution_record (updated_at)
  WHERE status NOT IN ('completed', 'failed', 'cancelled', 'not_submitted') OR NOT sources_finalized;

CREATE TABLE execution_observations (
  id                uuid PRIMARY KEY,
  execution_id      uuid NOT NULL,
  kind              varchar(32) NOT NULL,
  normalized_state  varchar(32),
  raw_state         varchar(128),
  reason            text,
  payload           jsonb NOT NULL DEFAULT '{}',
  source_version    varchar(64),
  observed_at       timestamptz NOT NULL,
  position          bigint NOT NULL
);
CREATE INDEX execution_observations_by_execution ON execution_observations (execution_id, observed_at);

CREATE TABLE execution_artifacts (
  id              uuid PRIMARY KEY,
  execution_id    uuid NOT NULL,
  kind            varchar(32) NOT NULL,
  storage_kind    varchar(16) NOT NULL,
  media_type      varchar(100) NOT NULL,
  sha256          varchar(64) NOT NULL,
  size_bytes      bigint NOT NULL,
  producer_phase  varchar(32),
  metadata        jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL
);
CREATE INDEX execution_artifacts_by_execution ON execution_artifacts (execution_id, created_at);

-- Content-addressed artifact bytes. Not a projection: events name artifacts by SHA-256 and
-- the bytes are written here (idempotently) before the event that references them.
CREATE TABLE artifact_blobs (
  sha256      varchar(64) PRIMARY KEY,
  media_type  varchar(100) NOT NULL,
  size_bytes  bigint NOT NULL,
  content     bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
