-- Tasks, their subtasks (by parent_task_id) and their result messages.

CREATE TABLE tasks (
  id               uuid PRIMARY KEY,
  parent_task_id   uuid REFERENCES tasks (id) ON DELETE CASCADE,
  action           text NOT NULL
                   CHECK (action ~ '^[a-z][a-z0-9_]*$' AND length(action) <= 64),
  status           text NOT NULL DEFAULT 'requested'
                   CHECK (status IN ('requested', 'queued', 'running',
                                     'terminating', 'terminated', 'complete')),
  result_status    text NOT NULL DEFAULT 'incomplete'
                   CHECK (result_status IN ('incomplete', 'success', 'partial_success',
                                            'failure', 'unreported')),
  result_message   text,
  result_reason    text,
  result_successes text[] NOT NULL DEFAULT '{}',
  result_failures  text[] NOT NULL DEFAULT '{}',
  retry            integer NOT NULL DEFAULT 0 CHECK (retry >= 0),
  design_ref       text,
  node_filter      jsonb,
  request_context  jsonb,
  created          timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_by       text,
  updated          timestamptz,
  terminate        boolean NOT NULL DEFAULT false,
  terminated       timestamptz,
  terminated_by    text,
  claimed_by       text,
  claimed_term     bigint,
  version          integer NOT NULL DEFAULT 1
);

-- The claim path: the oldest queued task first, only queued rows indexed.
CREATE INDEX tasks_queued_idx ON tasks (created, id) WHERE status = 'queued';
-- Listing and keyset pagination, and deleteTasksOlderThan.
CREATE INDEX tasks_created_idx ON tasks (created, id);
-- Subtasks of a parent, in creation order.
CREATE INDEX tasks_parent_idx ON tasks (parent_task_id, created, id)
  WHERE parent_task_id IS NOT NULL;
-- recoverTasks: running tasks by the term that claimed them.
CREATE INDEX tasks_running_idx ON tasks (claimed_term) WHERE status = 'running';

CREATE TABLE result_messages (
  sequence     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id      uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  message      text NOT NULL,
  error        boolean NOT NULL DEFAULT false,
  context      text,
  context_type text,
  ts           timestamptz NOT NULL DEFAULT clock_timestamp(),
  extra        jsonb
);

CREATE INDEX result_messages_task_idx ON result_messages (task_id, sequence);
-- errorCount is derived from the messages; this keeps counting it cheap.
CREATE INDEX result_messages_error_idx ON result_messages (task_id) WHERE error;

-- watchTasks: one notification per new task and per change of status, on a
-- channel named after the schema so several sites in one database stay apart.
CREATE FUNCTION tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM pg_notify(
      'statemgmt_tasks:' || TG_TABLE_SCHEMA,
      json_build_object('taskId', NEW.id, 'status', NEW.status, 'action', NEW.action)::text
    );
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OF status ON tasks
  FOR EACH ROW EXECUTE FUNCTION tasks_notify();
