-- Project config revisions and deployment profiles (read models).
CREATE TABLE project_configs (
  uuid          uuid PRIMARY KEY,
  project_id    varchar(80) NOT NULL,
  version       integer NOT NULL,
  spec          jsonb NOT NULL,
  spec_sha256   varchar(64) NOT NULL,
  warnings      jsonb NOT NULL DEFAULT '[]',
  active        boolean NOT NULL,
  uploaded_at   timestamptz NOT NULL,
  UNIQUE (project_id, version)
);
CREATE INDEX project_configs_active ON project_configs (project_id) WHERE active;

CREATE TABLE daliuge_deployment_profile (
  uuid                       uuid PRIMARY KEY,
  name                       varchar(50) NOT NULL,
  description                varchar(255),
  project_module             varchar(50),
  is_default                 boolean NOT NULL,
  translation                jsonb NOT NULL,
  deployment                 jsonb NOT NULL,
  max_concurrent_executions  integer,
  revision                   integer NOT NULL,
  spec_sha256                varchar(64) NOT NULL,
  created_at                 timestamptz NOT NULL,
  updated_at                 timestamptz NOT NULL
);
-- Names are unique and each scope has one default: the profile registry aggregate enforces
-- both. A read model must accept any order of row writes within a batch, so no unique index.
CREATE INDEX daliuge_deployment_profile_name ON daliuge_deployment_profile (name);
