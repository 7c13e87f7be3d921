-- The task lifecycle: scheduling (run_after), liveness (heartbeat_at), the
-- attempts a claimer allowed (max_attempts) and Drydock's result links.

ALTER TABLE tasks
  ADD COLUMN run_after    timestamptz,
  ADD COLUMN heartbeat_at timestamptz,
  ADD COLUMN max_attempts integer CHECK (max_attempts > 0),
  ADD COLUMN result_links jsonb NOT NULL DEFAULT '[]'
             CHECK (jsonb_typeof(result_links) = 'array');

-- The queue, keyed on when a task became claimable: its run_after, else its
-- creation. A claim reads it in order and stops at the statement's time, so
-- tasks scheduled in the future sit past the end of the range and are never
-- walked over, however many there are. Keyed on (created, id) with run_after
-- as a filter, 100,000 future tasks created before the ready ones were
-- walked on every claim, and every idle claim (nothing due) read all of them.
-- Tasks whose termination was requested are not in it: they are never claimed.
DROP INDEX tasks_queued_idx;
CREATE INDEX tasks_queued_idx ON tasks ((coalesce(run_after, created)), id)
  WHERE status = 'queued' AND NOT terminate;
