-- The worker registry (issue #21, spec §9.5): what each node says of itself with its heartbeat
-- (operational state), and whether an operator drained it (a read model of WorkerDrained and
-- WorkerResumed, rebuilt from events like every other).
ALTER TABLE node_heartbeats
  ADD COLUMN instance_name     text,
  ADD COLUMN pool              text NOT NULL DEFAULT 'default',
  ADD COLUMN capabilities      jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN labels            jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN concurrency_limit integer NOT NULL DEFAULT 1,
  ADD COLUMN registered_by     text NOT NULL DEFAULT 'node';  -- node | api (POST /workers)

CREATE TABLE worker_drains (
  worker_id      text PRIMARY KEY,
  draining       boolean NOT NULL,
  reason         text,
  requested_by   text,
  draining_at    timestamptz,
  resumed_at     timestamptz,
  updated_at     timestamptz NOT NULL,
  stream_version bigint NOT NULL
);

-- Whether an operator drained this worker: it then claims no job (claim_job below) and no
-- scheduler lease, and finishes what it holds.
CREATE FUNCTION worker_draining(p_worker text)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT draining FROM worker_drains WHERE worker_id = p_worker), false)
$$;

-- A drained worker's claim is refused in the statement that would make it, so no claim can
-- slip in between a worker reading its state and claiming.
ALTER FUNCTION claim_job(uuid, text, bigint, text, double precision, text, timestamptz)
  RENAME TO claim_job_for_any_owner;
CREATE FUNCTION claim_job(p_job uuid, p_kind text, p_attempt bigint, p_owner text,
                          p_lock_seconds double precision, p_subject text DEFAULT NULL,
                          p_next_run_at timestamptz DEFAULT NULL)
RETURNS TABLE (token bigint, recovered boolean, previous_owner text, recoveries integer)
LANGUAGE plpgsql AS $$
BEGIN
  IF worker_draining(p_owner) THEN RETURN; END IF;
  RETURN QUERY SELECT * FROM claim_job_for_any_owner(p_job, p_kind, p_attempt, p_owner,
                                                     p_lock_seconds, p_subject, p_next_run_at);
END $$;
