-- Whether a run with this ledger status still occupies capacity: every status but the four
-- terminal ones. Defined once for admission, the scheduler, the worker's scan and the stuck
-- view; IMMUTABLE SQL, so the planner inlines it and partial indexes still match.
CREATE FUNCTION execution_in_flight(status text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT status NOT IN ('completed', 'failed', 'cancelled', 'not_submitted')
$$;

CREATE OR REPLACE VIEW execution_stuck AS
  SELECT uuid, project_module, status,
         CASE WHEN coalesce(cancel_unconfirmed, false) THEN 'cancel_unconfirmed'
              WHEN coalesce(lookup_budget_exhausted, false) THEN 'lookup_budget_exhausted'
              ELSE 'poll_budget_exhausted' END AS reason
  FROM batch_execution_record
  WHERE execution_in_flight(status)
    AND (coalesce(poll_budget_exhausted, false) OR coalesce(lookup_budget_exhausted, false)
         OR coalesce(cancel_unconfirmed, false));
