-- New tasks are reported by statement, not by row: one NOTIFY carries up to
-- 50 events, so a batch of 1,000 tasks sends 20 notifications, not 1,000.
-- Status changes stay a row trigger with a WHEN clause: measured cheaper
-- for the common single-row writes, and free for writes that keep the status.
--
-- Every notifying transaction serialises on PostgreSQL's notify queue until
-- it commits. Operators who only need wake-ups for queued tasks (not every
-- status change) can say so and get claim+complete throughput back:
--   ALTER DATABASE drydock SET statemgmt.task_events = 'queued';
-- The default, 'all', reports every new task and every change of status.

DROP TRIGGER tasks_notify ON tasks;
DROP FUNCTION tasks_notify();

CREATE FUNCTION tasks_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  only_queued constant boolean :=
    coalesce(current_setting('statemgmt.task_events', true), '') = 'queued';
  chunk text;
BEGIN
  FOR chunk IN
    SELECT json_agg(json_build_array(e.id, e.status, e.action))::text
    FROM (SELECT n.id, n.status, n.action, (row_number() OVER () - 1) / 50 AS grp
          FROM new_rows n
          WHERE NOT only_queued OR n.status = 'queued') e
    GROUP BY e.grp ORDER BY e.grp
  LOOP
    PERFORM pg_notify('statemgmt_tasks:' || TG_TABLE_SCHEMA, chunk);
  END LOOP;
  RETURN NULL;
END
$$;

CREATE FUNCTION tasks_notify_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'queued'
     OR coalesce(current_setting('statemgmt.task_events', true), '') <> 'queued' THEN
    PERFORM pg_notify(
      'statemgmt_tasks:' || TG_TABLE_SCHEMA,
      json_build_array(json_build_array(NEW.id, NEW.status, NEW.action))::text
    );
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_insert_events AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_inserted();

CREATE TRIGGER tasks_status_events AFTER UPDATE OF status ON tasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION tasks_notify_status();
