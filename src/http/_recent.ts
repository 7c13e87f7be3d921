/**
 * The newest top-level tasks, newest first, for the status page and
 * dashboards (`GET /tasks?order=newest`). No public function lists tasks
 * newest first, so this is one statement of the HTTP face's own, reusing
 * the tasks' select list and row mapping (one definition of a task row).
 *
 * @module
 */
import { type Db, query } from "../db.ts";
import { TASK_WITH_MESSAGES } from "../tasks/_rows.ts";
import type { Task } from "../tasks.ts";

/**
 * Reads the `limit` newest tasks that have no parent, with their messages.
 *
 * @param db A pool or transaction.
 * @param limit How many (the caller checks the range).
 * @returns The tasks, newest first.
 */
export async function recentRootTasks(db: Db, limit: number): Promise<Task[]> {
  const rows = await query(
    db,
    `SELECT ${TASK_WITH_MESSAGES.sql} FROM tasks t
    WHERE t.parent_task_id IS NULL
    ORDER BY t.created DESC, t.id DESC
    LIMIT $1::int`,
    [limit],
  );
  return rows.map(TASK_WITH_MESSAGES.map);
}
