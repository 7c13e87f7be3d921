/**
 * Rolling subtasks' results up to their parent: Drydock's `bubble_results`
 * and `align_result`, made explicit and independent of order.
 *
 * @module
 */
import { z } from "zod";
import { type Db, Params, query } from "../db.ts";
import { NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { action, leaseSchema, taskId } from "../_schemas.ts";
import { FENCE_HOLDS, fencedRows, fencedSql } from "../leadership/fence.ts";
import { TASK } from "../tasks/_rows.ts";
import { inTransaction } from "../tasks/_tx.ts";
import type { Task } from "../tasks/types.ts";
import type { RollUpOptions } from "./types.ts";

const rollUpOptions = z.strictObject({
  action: action.optional(),
  lease: leaseSchema.optional(),
});

/**
 * Recomputes a parent task's result from its finished subtasks, by
 * DESIGN.md's roll-up rules: counted subtasks are the direct subtasks that
 * are `complete` or `terminated` (and of `action`, when given); each
 * `success` or `partial_success` is a success vote, each `failure` or
 * `partial_success` a failure vote, where failures count only from the
 * parent's current attempt once it has retried. `successes` and
 * `failures` become the distinct unions of the subtasks', in subtask
 * creation order. The parent's `message`, `reason` and `status` stay.
 *
 * The parent's row is locked before the subtasks are read, in a second
 * statement: concurrent completions each followed by a roll-up leave every
 * subtask counted. With a pool it runs in a transaction of its own; inside
 * the caller's (READ COMMITTED) transaction, it holds the lock until that
 * ends.
 *
 * @param db A pool or transaction.
 * @param parentId The parent task.
 * @param opts An action filter; a lease to fence the write.
 * @returns The parent with its new result.
 * @throws {ValidationError} Bad input.
 * @throws {NotFoundError} No such task.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * await updateTask(sql, subtask.id, { status: "complete", result: { status: "success" } });
 * const parent = await rollUpResults(sql, subtask.parentTaskId!, { action: "deploy_node" });
 * console.log(parent.result.status, parent.result.successes);
 * ```
 */
export async function rollUpResults(
  db: Db,
  parentId: string,
  opts: RollUpOptions = {},
): Promise<Task> {
  const id = parse(taskId, parentId);
  const o = parse(rollUpOptions, opts);
  return await inTransaction(db, async (tx) => {
    // "Atomic: the parent's row is locked before its children are read."
    // The children are read by the next statement, whose snapshot is taken
    // after the lock was granted, so it sees every completion committed by
    // whoever held the lock before. A CTE in this statement would read them
    // with this statement's snapshot, taken before the wait: it would miss
    // them. NO KEY UPDATE, as an UPDATE takes: creating subtasks (a KEY
    // SHARE lock on the parent) is not held up.
    const [locked] = await query(
      tx,
      `SELECT 1 AS locked FROM tasks WHERE id = $1::uuid FOR NO KEY UPDATE`,
      [id],
    );
    if (!locked) throw new NotFoundError("task", id);
    const q = new Params();
    const ctes = rollUpCtes(q, id, o.action, o.lease !== undefined);
    if (!o.lease) {
      const [row] = await query(tx, `WITH ${ctes} SELECT * FROM rolled w`, q.values);
      return TASK.map(row);
    }
    const [row] = fencedRows(
      await query(tx, fencedSql(q, o.lease, ctes, "rolled"), q.values),
      o.lease,
    );
    if (!row) throw new NotFoundError("task", id);
    return TASK.map(row);
  });
}

/** The CTEs (without `WITH`) that compute and write the roll-up; `rolled` returns the parent. */
function rollUpCtes(
  q: Params,
  id: string,
  action: string | undefined,
  fenced: boolean,
): string {
  const parent = `${q.add(id)}::uuid`;
  // "Counted subtasks: the parent's direct subtasks whose status is
  // complete or terminated, and, with action, whose action is that one."
  // "Failure votes: … when the parent's retry is above 0 — whose retry
  // equals the parent's (failures of older attempts do not count)."
  return `p AS (SELECT retry FROM tasks WHERE id = ${parent}),
    counted AS (
      SELECT c.id, c.created, c.result_status, c.result_successes, c.result_failures,
             (SELECT p.retry FROM p) = 0 OR c.retry = (SELECT p.retry FROM p) AS current
      FROM tasks c
      WHERE c.parent_task_id = ${parent} AND c.status IN ('complete', 'terminated')
        ${action ? `AND c.action = ${q.add(action)}::text` : ""}
    ), votes AS (
      SELECT count(*) FILTER (WHERE result_status IN ('success', 'partial_success')) AS up,
             count(*) FILTER (WHERE current AND result_status IN ('failure', 'partial_success'))
               AS down,
             EXISTS (SELECT 1 FROM tasks c WHERE c.parent_task_id = ${parent}) AS any
      FROM counted
    ), rolled AS (
      UPDATE tasks t SET
        result_status = CASE
          WHEN NOT v.any THEN 'success'
          WHEN v.up > 0 AND v.down > 0 THEN 'partial_success'
          WHEN v.up > 0 THEN 'success'
          WHEN v.down > 0 THEN 'failure'
          ELSE 'incomplete' END,
        result_successes = ${entityUnion("result_successes", "true")},
        result_failures = ${entityUnion("result_failures", "c.current")},
        updated = clock_timestamp(), version = t.version + 1
      FROM votes v
      WHERE t.id = ${parent} ${fenced ? `AND ${FENCE_HOLDS}` : ""}
      RETURNING ${TASK.sql}
    ), logged AS (
      INSERT INTO task_events (task_id, parent_task_id, action, status, kind)
      SELECT r.id, r.parent_task_id, r.action, r.status, 'result' FROM rolled r
    )`;
}

/**
 * "The distinct union of the counted subtasks' [entities]; order: subtask
 * creation, then list order": each entity where it first appears.
 */
function entityUnion(column: string, where: string): string {
  return `ARRAY(
          SELECT e FROM (
            SELECT DISTINCT ON (x.e) x.e, c.created, c.id, x.n
            FROM counted c, unnest(c.${column}) WITH ORDINALITY AS x(e, n)
            WHERE ${where}
            ORDER BY x.e, c.created, c.id, x.n
          ) first ORDER BY first.created, first.id, first.n)`;
}
