-- Issue #24: an artifact may be stored as another artifact plus the JSON keys set on it (a run's
-- patched graph is its source graph with a graph configuration added). For such a row,
-- `content` holds the replacements (util/json_delta.hpp) and `base_sha256` names a blob stored
-- whole; `sha256` and `size_bytes` stay those of the rebuilt bytes, which store::get_artifact
-- returns (and checks against `sha256`).
ALTER TABLE artifact_blobs ADD COLUMN base_sha256 varchar(64) REFERENCES artifact_blobs (sha256);
