-- WASM hook modules per project (spec §1.2 project_config_wasm, ⚠ Q2 fixed: a module belongs to
-- the project and survives new config revisions). The bytes are artifact_blobs rows.
CREATE TABLE project_config_wasm (
  wasm_key           text PRIMARY KEY,  -- project_id || '/' || wasm_sha256
  project_id         text NOT NULL,
  wasm_sha256        text NOT NULL,
  project_config_id  uuid NOT NULL,     -- the active config revision at upload
  size_bytes         bigint NOT NULL,
  uploaded_at        timestamptz NOT NULL
);
