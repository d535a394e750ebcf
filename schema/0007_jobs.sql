-- The jobs read model: every piece of work the system has been asked to do and where it
-- stands, derived from the events (discovery requests and execute requests).
CREATE TABLE jobs (
  id             uuid PRIMARY KEY,
  kind           varchar(32) NOT NULL,   -- discover_source | execute
  status         varchar(16) NOT NULL,   -- queued | running | completed | failed | cancelled
  project_module varchar(50) NOT NULL,
  subject        text NOT NULL,          -- source identifier or execution id
  execution_id   uuid,
  attempt        integer NOT NULL DEFAULT 1,
  claim_token    text,
  reason         text,
  last_error     text,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  finished_at    timestamptz
);
CREATE INDEX jobs_by_status ON jobs (status, created_at);
