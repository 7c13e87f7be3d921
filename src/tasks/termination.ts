/**
 * Asking for a task, and by default its descendants, to be terminated.
 *
 * @module
 */
import { type Db, query } from "../db.ts";
import { NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { taskId } from "../_schemas.ts";
import { TASK } from "./_rows.ts";
import { terminationOptions } from "./_schemas.ts";
import type { RequestTerminationOptions, Task } from "./types.ts";

/**
 * Asks for a task to be terminated, by DESIGN.md's rule: it "marks the task
 * and (cascade) every descendant at once (terminate, terminated,
 * terminatedBy); queued and requested ones become terminated and are never
 * claimed; running ones stay running with terminate = true and a
 * termination_requested event" — one statement. Descendants already
 * complete or terminated are left alone; the task itself is always marked.
 * A worker learns of the request through `terminationSignal`.
 *
 * @param db A pool or transaction.
 * @param id The task.
 * @param opts Who asks; whether descendants are marked too (default: yes).
 * @returns The task after the write.
 * @throws {ValidationError} Bad input.
 * @throws {NotFoundError} No such task.
 *
 * @example Usage
 * ```ts ignore
 * await requestTermination(sql, task.id, { by: "operator" });
 * ```
 */
export async function requestTermination(
  db: Db,
  id: string,
  opts: RequestTerminationOptions = {},
): Promise<Task> {
  const tid = parse(taskId, id);
  const { by, cascade } = parse(terminationOptions, opts);
  const [row] = await query(db, cascade ? TERMINATE_TREE : TERMINATE_ONE, [tid, by ?? null]);
  if (!row) throw new NotFoundError("task", tid);
  return TASK.map(row);
}

/** The SET list of a termination request, over the alias `t`. */
const MARK = `terminate = true,
      terminated = coalesce(t.terminated, clock_timestamp()),
      terminated_by = coalesce(t.terminated_by, $2::text),
      status = CASE WHEN t.status IN ('queued', 'requested') THEN 'terminated' ELSE t.status END,
      updated = clock_timestamp(), version = t.version + 1`;

const TERMINATE_ONE = `
    UPDATE tasks t SET ${MARK}
    WHERE t.id = $1::uuid
    RETURNING ${TASK.sql}`;

// The tree walk uses UNION, not UNION ALL: it ends even on a cycle.
const TERMINATE_TREE = `
    WITH RECURSIVE tree AS (
      SELECT id FROM tasks WHERE id = $1::uuid
      UNION
      SELECT c.id FROM tasks c JOIN tree ON c.parent_task_id = tree.id
    ), marked AS (
      UPDATE tasks t SET ${MARK}
      FROM tree
      WHERE t.id = tree.id
        AND (t.id = $1::uuid OR t.status NOT IN ('complete', 'terminated'))
      RETURNING t.*
    )
    SELECT ${TASK.sql} FROM marked t WHERE t.id = $1::uuid`;
