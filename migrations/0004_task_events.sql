-- Task events by statement, not by row: one NOTIFY carries up to 50 events,
-- so a batch of 1,000 tasks sends 20 notifications instead of 1,000.
--
-- Every notifying transaction serialises on PostgreSQL's notify queue until
-- it commits. Operators who only need wake-ups for queued tasks (not every
-- status change) can say so and get claim+complete throughput back:
--   ALTER DATABASE drydock SET statemgmt.task_events = 'queued';
-- The default, 'all', reports every new task and every change of status.

DROP TRIGGER tasks_notify ON tasks;
DROP FUNCTION tasks_notify();

CREATE FUNCTION tasks_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  only_queued constant boolean :=
    coalesce(current_setting('statemgmt.task_events', true), '') = 'queued';
  channel constant text := 'statemgmt_tasks:' || TG_TABLE_SCHEMA;
  chunk text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    FOR chunk IN
      SELECT json_agg(json_build_array(e.id, e.status, e.action))::text
      FROM (SELECT n.id, n.status, n.action, (row_number() OVER () - 1) / 50 AS grp
            FROM new_rows n
            WHERE NOT only_queued OR n.status = 'queued') e
      GROUP BY e.grp ORDER BY e.grp
    LOOP
      PERFORM pg_notify(channel, chunk);
    END LOOP;
  ELSE
    FOR chunk IN
      SELECT json_agg(json_build_array(e.id, e.status, e.action))::text
      FROM (SELECT n.id, n.status, n.action, (row_number() OVER () - 1) / 50 AS grp
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.status IS DISTINCT FROM o.status
              AND (NOT only_queued OR n.status = 'queued')) e
      GROUP BY e.grp ORDER BY e.grp
    LOOP
      PERFORM pg_notify(channel, chunk);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_insert_events AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_events();

CREATE TRIGGER tasks_update_events AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tasks_notify_events();
