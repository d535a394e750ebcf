-- Where a checkpoint stopped recomputing (issue #22): each checkpoint also keeps a fingerprint of
-- its range, 16 bytes per event in read order (the position as 8 bytes big-endian, then the first
-- 8 bytes of the event's hash). It is not part of the digest, which already covers positions and
-- whole hashes; verify compares it only when the digest fails, to name the event inserted,
-- removed or altered. Null for checkpoints taken before it, or over very large ranges.
ALTER TABLE audit_checkpoints ADD COLUMN fingerprints bytea;
