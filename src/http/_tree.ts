/**
 * A task tree in a bounded number of statements, for `GET /tasks/{id}`
 * with `layers` or `subtaskerrors`: one recursive statement reads the task
 * and its descendants to the depth asked for, each with its messages and
 * subtask ids; one more reads the build data of all of them when asked.
 * Drydock read each task, and each task's build data, with statements of
 * their own: 1,102 statements for a tree of 1 + 50 + 500.
 *
 * The select list and row mapping are the tasks' own (one definition of a
 * task row); the recursion is this file's.
 *
 * @module
 */
import { type Db, query, toDate } from "../db.ts";
import type { BuildData } from "../build_data.ts";
import { TASK_WITH_MESSAGES } from "../tasks/_rows.ts";
import type { Task } from "../tasks.ts";

/** A task of a tree and its depth below the root (the root is 0). */
export interface TreeTask {
  depth: number;
  task: Task;
}

// CYCLE guards against a parent loop: a tree is read, never a loop forever.
const TREE = `
    WITH RECURSIVE tree(id, depth) AS (
      SELECT id, 0 FROM tasks WHERE id = $1::uuid
      UNION ALL
      SELECT c.id, tree.depth + 1 FROM tasks c JOIN tree ON c.parent_task_id = tree.id
      WHERE $2::int < 0 OR tree.depth < $2::int
    ) CYCLE id SET looped USING path
    SELECT tree.depth, ${TASK_WITH_MESSAGES.sql}
    FROM tree JOIN tasks t ON t.id = tree.id
    WHERE NOT tree.looped
    ORDER BY tree.depth, t.created, t.id`;

/**
 * Reads the task `id` and its descendants down to `maxDepth` (-1: all),
 * breadth first, with messages; one statement.
 *
 * @param db A pool or transaction.
 * @param id The root task's id (a checked UUID).
 * @param maxDepth The deepest level read; 0 is the root alone.
 * @returns The tree's tasks with their depths; `[]` when there is no such task.
 */
export async function readTaskTree(db: Db, id: string, maxDepth: number): Promise<TreeTask[]> {
  const rows = await query(db, TREE, [id, maxDepth]);
  return rows.map((row) => ({ depth: row.depth, task: TASK_WITH_MESSAGES.map(row) }));
}

const BUILD_DATA = `
    SELECT id, node_name, task_id, collected_date, generator, data_format, data_element
    FROM build_data
    WHERE task_id IN (SELECT x::uuid FROM jsonb_array_elements_text($1::text::jsonb) AS x)
    ORDER BY collected_date DESC, id DESC`;

/**
 * Reads the build data of many tasks in one statement, newest first, as
 * `listBuildData` orders a task's history.
 *
 * @param db A pool or transaction.
 * @param taskIds The tasks (checked UUIDs).
 * @returns Each task's records by task id.
 */
export async function readBuildDataOf(
  db: Db,
  taskIds: string[],
): Promise<Map<string, BuildData[]>> {
  const out = new Map<string, BuildData[]>(taskIds.map((id) => [id, []]));
  if (taskIds.length === 0) return out;
  const rows = await query(db, BUILD_DATA, [JSON.stringify(taskIds)]);
  for (const r of rows) {
    out.get(r.task_id)?.push({
      id: Number(r.id),
      nodeName: r.node_name,
      taskId: r.task_id,
      collectedDate: toDate(r.collected_date),
      generator: r.generator,
      dataFormat: r.data_format,
      dataElement: r.data_element,
    });
  }
  return out;
}

const TREE_IDS = `
    WITH RECURSIVE tree(id) AS (
      SELECT id FROM tasks WHERE id = $1::uuid
      UNION ALL
      SELECT c.id FROM tasks c JOIN tree ON c.parent_task_id = tree.id
    ) CYCLE id SET looped USING path
    SELECT id FROM tree WHERE NOT looped`;

/**
 * The ids of a task and all its descendants, in one statement.
 *
 * @param db A pool or transaction.
 * @param id The root task (a checked UUID).
 * @returns The ids; empty when there is no such task.
 */
export async function readTreeIds(db: Db, id: string): Promise<Set<string>> {
  const rows = await query(db, TREE_IDS, [id]);
  return new Set(rows.map((r) => r.id as string));
}
