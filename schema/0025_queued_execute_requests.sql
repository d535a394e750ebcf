-- Issue #24: the scheduler counts the runs asked to execute that have not submitted yet on every
-- tick (its queue depth). Counted through the active-runs index, that read every in-flight row
-- (15 ms a call with 500 runs in flight); this index holds only the queued ones.
CREATE INDEX batch_execution_record_queued ON batch_execution_record (uuid)
  WHERE execute_request IS NOT NULL AND submission_state = 'not_started'
    AND execution_in_flight(status);
