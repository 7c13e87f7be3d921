-- Build history of each node, and the boot-action context and statuses.
-- No foreign key to tasks anywhere here: a node's history must outlive the
-- tasks that produced it (deleteTasksOlderThan leaves these rows alone).
-- The CHECKs mirror the validation in src/build_data.ts and src/boot_actions.ts.

CREATE TABLE build_data (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  node_name      text NOT NULL CHECK (length(node_name) BETWEEN 1 AND 64),
  task_id        uuid NOT NULL,
  collected_date timestamptz NOT NULL DEFAULT clock_timestamp(),
  generator      text NOT NULL CHECK (length(generator) BETWEEN 1 AND 128),
  data_format    text NOT NULL CHECK (length(data_format) BETWEEN 1 AND 128),
  data_element   text NOT NULL
);

-- listBuildData({nodeName, latest}): DISTINCT ON (node_name, generator)
-- ordered newest first reads this index in order, with no sort. The same
-- index serves a node's whole history (node_name prefix).
CREATE INDEX build_data_node_generator_idx
  ON build_data (node_name, generator, collected_date DESC, id DESC);
-- listBuildData({taskId}): what one deployment task collected.
CREATE INDEX build_data_task_idx ON build_data (task_id);

-- One boot-action context per node: the task deploying it and the key the
-- node must present. Replaced when the node is redeployed.
CREATE TABLE boot_actions (
  node_name    text PRIMARY KEY CHECK (length(node_name) BETWEEN 1 AND 64),
  task_id      uuid NOT NULL,
  identity_key bytea NOT NULL CHECK (octet_length(identity_key) = 32)
);

-- One row per boot action run on a node; action_id is a canonical
-- (upper-case) ULID, so ordering by it orders by creation time.
CREATE TABLE boot_action_statuses (
  action_id     text PRIMARY KEY CHECK (action_id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
  node_name     text NOT NULL CHECK (length(node_name) BETWEEN 1 AND 64),
  action_name   text NOT NULL CHECK (length(action_name) BETWEEN 1 AND 128),
  task_id       uuid NOT NULL,
  identity_key  bytea NOT NULL CHECK (octet_length(identity_key) = 32),
  action_status text NOT NULL DEFAULT 'incomplete'
                CHECK (action_status IN ('incomplete', 'success', 'partial_success',
                                         'failure', 'unreported'))
);

-- listBootActions(nodeName): the newest action per name, read in index order.
CREATE INDEX boot_action_statuses_node_idx
  ON boot_action_statuses (node_name, action_name, action_id DESC);
