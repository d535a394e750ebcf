-- Durable work (spec §2.4 [HEAD], §12.1). The jobs read model gains the retry schedule and
-- the dead letter; the source registry keeps the attempt of its open discovery request.
ALTER TABLE jobs
  ADD COLUMN next_run_at       timestamptz,
  ADD COLUMN failure_class     varchar(32),
  ADD COLUMN dead_lettered_at  timestamptz;
ALTER TABLE source_registry
  ADD COLUMN discovery_attempt   integer,
  ADD COLUMN discovery_retry_at  timestamptz;

-- Claims on jobs: operational coordination between workers, not a projection, never
-- replayed (what a job did is in the events). One row per job: the attempt it was claimed
-- for, who holds it until when, and a fencing token that grows with every claim.
CREATE TABLE job_leases (
  job_id      uuid PRIMARY KEY,
  kind        varchar(32) NOT NULL,
  attempt     bigint NOT NULL,       -- recurring ticks: the round number
  state       varchar(8) NOT NULL,   -- held | released | done
  owner       text NOT NULL,
  token       bigint NOT NULL,
  recoveries  integer NOT NULL DEFAULT 0,
  claimed_at  timestamptz NOT NULL,
  renewed_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  subject     text,                  -- recurring ticks: the target they serve
  next_run_at timestamptz            -- recurring ticks: when the next round is due
);
CREATE INDEX job_leases_held ON job_leases (owner) WHERE state = 'held';

-- Every claim, recovery, loss and finish of a job, for operators reading what happened to
-- it (recurring ticks, which claim a round every few seconds, keep no history).
CREATE TABLE job_claim_history (
  id       bigserial PRIMARY KEY,
  job_id   uuid NOT NULL,
  kind     varchar(32) NOT NULL,
  attempt  bigint NOT NULL,
  owner    text NOT NULL,
  token    bigint NOT NULL,
  action   varchar(16) NOT NULL,     -- claimed | recovered | lost | finished | released
  detail   text,
  at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX job_claim_history_by_job ON job_claim_history (job_id, id);

-- Claims job p_job for attempt p_attempt, in one round trip. A claim succeeds when the job
-- has no lease, when its lease is for an older attempt, when it was released, or when its
-- holder let it expire (a recovery: the holder is presumed dead and its token is fenced
-- out). A lease for a newer attempt, a live lease or a finished attempt refuses the claim.
CREATE FUNCTION claim_job(p_job uuid, p_kind text, p_attempt bigint, p_owner text,
                          p_lock_seconds double precision, p_subject text DEFAULT NULL,
                          p_next_run_at timestamptz DEFAULT NULL)
RETURNS TABLE (token bigint, recovered boolean, previous_owner text, recoveries integer)
LANGUAGE plpgsql AS $$
DECLARE
  r job_leases%ROWTYPE;
  expiry timestamptz := clock_timestamp() + make_interval(secs => p_lock_seconds);
  is_recovery boolean;
  keep_history boolean := p_kind NOT LIKE '%\_tick';
BEGIN
  -- Leases are coordination, not record: a claim lost with a database crash is simply made
  -- again, so the commit need not wait for the disk.
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO job_leases (job_id, kind, attempt, state, owner, token, claimed_at, renewed_at,
                          expires_at, subject, next_run_at)
  VALUES (p_job, p_kind, p_attempt, 'held', p_owner, 1, clock_timestamp(), clock_timestamp(),
          expiry, p_subject, p_next_run_at)
  ON CONFLICT (job_id) DO NOTHING;
  IF FOUND THEN
    IF keep_history THEN
      INSERT INTO job_claim_history (job_id, kind, attempt, owner, token, action)
      VALUES (p_job, p_kind, p_attempt, p_owner, 1, 'claimed');
    END IF;
    RETURN QUERY SELECT 1::bigint, false, NULL::text, 0;
    RETURN;
  END IF;
  SELECT * INTO r FROM job_leases l WHERE l.job_id = p_job FOR UPDATE;
  IF r.attempt > p_attempt THEN RETURN; END IF;
  IF r.attempt = p_attempt THEN
    IF r.state = 'done' THEN RETURN; END IF;
    IF r.state = 'held' AND r.expires_at > clock_timestamp() THEN RETURN; END IF;
  END IF;
  is_recovery := r.attempt = p_attempt AND r.state = 'held';
  UPDATE job_leases l SET attempt = p_attempt, state = 'held', owner = p_owner,
         token = r.token + 1, claimed_at = clock_timestamp(), renewed_at = clock_timestamp(),
         expires_at = expiry, subject = coalesce(p_subject, r.subject),
         next_run_at = p_next_run_at,
         recoveries = CASE WHEN is_recovery THEN r.recoveries + 1 ELSE r.recoveries END
   WHERE l.job_id = p_job;
  IF keep_history THEN
    INSERT INTO job_claim_history (job_id, kind, attempt, owner, token, action, detail)
    VALUES (p_job, p_kind, p_attempt, p_owner, r.token + 1,
            CASE WHEN is_recovery THEN 'recovered' ELSE 'claimed' END,
            CASE WHEN is_recovery THEN 'lease of ' || r.owner || ' expired' END);
  END IF;
  RETURN QUERY SELECT r.token + 1, is_recovery,
                      CASE WHEN is_recovery THEN r.owner END,
                      CASE WHEN is_recovery THEN r.recoveries + 1 ELSE r.recoveries END;
END $$;

-- Artifacts (manifests, graphs of several hundred KB) are compressed with lz4 rather than
-- pglz: much less CPU per stored graph for a slightly larger size.
ALTER TABLE artifact_blobs ALTER COLUMN content SET COMPRESSION lz4;
