-- The durable task-event log. Every new task, change of status and
-- termination request is a row of task_events, written by the triggers
-- below in the same transaction as the change, with the writing
-- transaction's id (xid8). Readers (src/events.ts) find new rows by
-- snapshot, as PgQ does, so an event committed late is still read and a
-- reader that reconnects resumes from its cursor. Result roll-ups add
-- 'result' rows with a plain INSERT from the code that rolls them up.
--
-- NOTIFY is now only a wake-up, with an empty payload, sent when a task is
-- inserted as queued, becomes queued, or has termination requested; never
-- for claims, completions or any other change. PostgreSQL holds a
-- cluster-wide lock from a notifying transaction's commit through its WAL
-- flush, so a NOTIFY per change ran claim + complete one commit at a time
-- (0.45-0.55x graphile-worker's loop with it, 0.71-1.01x without). Measured
-- with this log instead, claim + complete with 8 workers (plain UPDATEs):
-- 1,651 -> 2,072 tasks/s, median of 4 rounds.
-- The channel is 'statemgmt_tasks:' || schema, hashed with md5 when that
-- would pass the 63 bytes PostgreSQL allows (a schema name over 47 bytes
-- made pg_notify fail, and with it every task write).
--
-- The statemgmt.task_events setting ('queued' to notify only wake-ups) is
-- gone and no longer read: every change is a row now, and no claim or
-- completion notifies any more, so there is nothing left for it to turn off.
-- ALTER DATABASE ... RESET statemgmt.task_events clears a leftover setting.

DROP TRIGGER tasks_insert_events ON tasks;
DROP TRIGGER tasks_status_events ON tasks;
DROP FUNCTION tasks_notify_inserted();
DROP FUNCTION tasks_notify_status();

-- Append-only. No foreign key: tasks are deleted (deleteTasksOlderThan
-- deletes their events itself) and retention prunes events by age.
CREATE TABLE task_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
  task_id        uuid NOT NULL,
  parent_task_id uuid,
  action         text NOT NULL,
  status         text NOT NULL,
  kind           text NOT NULL
                 CHECK (kind IN ('created', 'status', 'termination_requested', 'result')),
  at             timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The reader looks up the events of transactions that were in progress at
-- its previous snapshot by xid (new ones by id, through the primary key),
-- and pruning deletes by xid.
CREATE INDEX task_events_xid_idx ON task_events (xid, id);
-- The events of given tasks, for deleteTasksOlderThan and deleteTaskEvents:
-- without it each batch of deleted trees would read the whole log. It costs
-- about 5 % of claim + complete (2,198 -> 2,072 tasks/s, near the noise)
-- and, with random task ids, 50 MB per million events.
CREATE INDEX task_events_task_idx ON task_events (task_id);
-- Pruning by age. Rows are appended in time order, so a BRIN index serves
-- the range: 24 kB for a million events where a B-tree took 21 MB, and
-- claim + complete measured the same with either (2,072 vs 2,090 tasks/s).
CREATE INDEX task_events_at_idx ON task_events USING brin (at);

-- Every transaction up to `through` has had all its events pruned. A reader
-- whose previous snapshot does not see all of them may have missed some and
-- is refused (cursor_expired) instead of resuming past the gap.
CREATE TABLE task_events_pruned (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  through xid8
);
INSERT INTO task_events_pruned DEFAULT VALUES;

-- The wake-up channel of a schema's task events, one definition for the
-- triggers and for readers (taskEventsChannel): 'statemgmt_tasks:' || schema,
-- hashed where that would pass PostgreSQL's 63-byte limit.
CREATE FUNCTION task_events_channel(schema text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN octet_length('statemgmt_tasks:' || schema) <= 63
    THEN 'statemgmt_tasks:' || schema
    ELSE 'statemgmt_tasks:' || md5(schema)
  END
$$;

-- New tasks: one 'created' row each, in one set-based INSERT per statement.
-- The INSERT and the queued test are one query: PL/pgSQL plans a query on
-- a transition table anew on every call, so each one costs its planning.
CREATE FUNCTION tasks_log_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  queued boolean;
BEGIN
  WITH logged AS (
    INSERT INTO task_events (task_id, parent_task_id, action, status, kind)
    SELECT n.id, n.parent_task_id, n.action, n.status, 'created' FROM new_rows n
    RETURNING status
  )
  SELECT bool_or(status = 'queued') INTO queued FROM logged;
  IF queued THEN
    PERFORM pg_notify(task_events_channel(TG_TABLE_SCHEMA), '');
  END IF;
  RETURN NULL;
END
$$;

-- A change of status and a termination request: a row each (both when one
-- UPDATE does both, the request first). The wake-up is sent per row, but
-- PostgreSQL folds identical notifications (same channel, same empty
-- payload) within a transaction into one, so a statement sends at most one.
CREATE FUNCTION tasks_log_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  requested constant boolean := NEW.terminate AND NOT OLD.terminate;
BEGIN
  IF requested THEN
    INSERT INTO task_events (task_id, parent_task_id, action, status, kind)
    VALUES (NEW.id, NEW.parent_task_id, NEW.action, NEW.status, 'termination_requested');
  END IF;
  IF OLD.status IS DISTINCT FROM NEW.status THEN
    INSERT INTO task_events (task_id, parent_task_id, action, status, kind)
    VALUES (NEW.id, NEW.parent_task_id, NEW.action, NEW.status, 'status');
  END IF;
  IF requested OR (NEW.status = 'queued' AND OLD.status IS DISTINCT FROM 'queued') THEN
    PERFORM pg_notify(task_events_channel(TG_TABLE_SCHEMA), '');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_insert_events AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tasks_log_inserted();

-- The WHEN clause keeps writes that change neither out of the after-trigger
-- queue altogether.
CREATE TRIGGER tasks_status_events AFTER UPDATE OF status, terminate ON tasks
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR (NEW.terminate AND NOT OLD.terminate))
  EXECUTE FUNCTION tasks_log_changed();
