-- New tasks' events are gathered by one plain aggregate and sent in slices
-- of 50, instead of a windowed, grouped query per statement. PL/pgSQL plans
-- a query over a transition table anew on every call, and the windowed one
-- cost more to plan than a single-row insert took to run: createTask
-- measured 0.64 → 0.57 ms, the bare NOTIFY's own floor.
CREATE OR REPLACE FUNCTION tasks_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  only_queued constant boolean :=
    coalesce(current_setting('statemgmt.task_events', true), '') = 'queued';
  events text[];
BEGIN
  SELECT array_agg(json_build_array(n.id, n.status, n.action)::text) INTO events
  FROM new_rows n
  WHERE NOT only_queued OR n.status = 'queued';
  FOR i IN 1 .. coalesce(array_length(events, 1), 0) BY 50 LOOP
    PERFORM pg_notify('statemgmt_tasks:' || TG_TABLE_SCHEMA,
                      '[' || array_to_string(events[i:i + 49], ',') || ']');
  END LOOP;
  RETURN NULL;
END
$$;
