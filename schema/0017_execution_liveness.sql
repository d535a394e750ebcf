-- Liveness of executions (issue #17): each way a run can stop moving is recorded, so an
-- operator can see it and end it.
ALTER TABLE batch_execution_record
  -- Lookups of an uncertain submission ran past their budget without finding it.
  ADD COLUMN lookup_budget_exhausted boolean,
  -- The backend never confirmed a cancel; the request was withdrawn after its last attempt.
  ADD COLUMN cancel_unconfirmed      boolean,
  -- A DALiuGE session found built but never deployed was deployed again (once).
  ADD COLUMN redeploy_intended_at    timestamptz,
  -- The submission was found by name (no receipt came back from the backend).
  ADD COLUMN adopted_by_lookup       boolean;

-- Repeated failures of one source's runs back its automated admission off (issue #17: a
-- failing config was admitted, and staged, every minute).
ALTER TABLE source_registry
  ADD COLUMN execution_failures_in_row integer,  -- null: none yet
  ADD COLUMN automation_retry_at       timestamptz;

-- The one definition of a stuck run, for the beampipe_execution_stuck gauge and the
-- execution_stuck alert rule: not terminal, and flagged by a worker as past its liveness
-- bound (an operator can now abandon it).
CREATE VIEW execution_stuck AS
  SELECT uuid, project_module, status,
         CASE WHEN coalesce(cancel_unconfirmed, false) THEN 'cancel_unconfirmed'
              WHEN coalesce(lookup_budget_exhausted, false) THEN 'lookup_budget_exhausted'
              ELSE 'poll_budget_exhausted' END AS reason
  FROM batch_execution_record
  WHERE status NOT IN ('completed', 'failed', 'cancelled', 'not_submitted')
    AND (coalesce(poll_budget_exhausted, false) OR coalesce(lookup_budget_exhausted, false)
         OR coalesce(cancel_unconfirmed, false));
