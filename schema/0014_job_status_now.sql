-- What a job is doing now, defined once for GET /jobs, /ready and the jobs gauges: a queued job
-- whose lease is held and not yet expired is running on the lease's owner; a lapsed lease
-- leaves it queued (its worker is presumed gone and the job will be claimed again).
CREATE FUNCTION job_status_now(status text, lease_state text, lease_expires_at timestamptz)
RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT CASE WHEN status = 'queued' AND lease_state = 'held'
                   AND lease_expires_at > clock_timestamp()
              THEN 'running' ELSE status END
$$;
