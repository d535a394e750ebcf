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
