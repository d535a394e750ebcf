-- Discovery: the outstanding request per source, and the prepared archive metadata (§1.2).
ALTER TABLE source_registry
  ADD COLUMN discovery_request_id    uuid,
  ADD COLUMN discovery_requested_at  timestamptz,
  ADD COLUMN last_discovery_error    text,
  ADD COLUMN discovery_truncated     boolean NOT NULL DEFAULT false;
CREATE INDEX source_registry_discovery_requests ON source_registry (discovery_requested_at)
  WHERE discovery_request_id IS NOT NULL;

CREATE TABLE archive_metadata (
  uuid               uuid PRIMARY KEY,
  source_uuid        uuid NOT NULL,
  project_module     varchar(50) NOT NULL,
  source_identifier  varchar(100) NOT NULL,
  sbid               varchar(50) NOT NULL,
  metadata_json      jsonb NOT NULL,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);
CREATE INDEX archive_metadata_by_source ON archive_metadata (source_uuid, sbid);
