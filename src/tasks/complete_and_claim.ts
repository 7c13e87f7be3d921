/**
 * A worker's loop in one statement: finish the task it holds and claim
 * the next, with one commit instead of two.
 *
 * @module
 */
import { type Db, Params, query } from "../db.ts";
import { NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { taskId } from "../_schemas.ts";
import { assertFenced, FENCE_HOLDS, fencedSql } from "../leadership/fence.ts";
import { claimSql } from "./_claim.ts";
import { patchSet } from "./_patch.ts";
import { TASK } from "./_rows.ts";
import { claimOptions, taskPatch } from "./_schemas.ts";
import type { ClaimOptions, Task, TaskPatch } from "./types.ts";

/**
 * Applies `patch` to the task `doneId` (typically `status: "complete"`
 * with its result) and claims the next queued task as
 * {@linkcode claimNextTask} does, in one statement and one commit. The
 * claim happens only if the patch did: when `doneId` names no task,
 * nothing is claimed. With a lease both writes are fenced.
 *
 * @param db A pool or transaction.
 * @param doneId The task just finished.
 * @param patch The fields to change on it, as for {@linkcode updateTask}.
 * @param opts The claim's action filter, claimer and lease.
 * @returns The next claimed task, or `null` when none is queued.
 * @throws {ValidationError} Bad input; nothing written.
 * @throws {NotFoundError} `doneId` names no task; nothing written.
 * @throws {NotLeaderError} `opts.lease` is no longer the current leadership; nothing written.
 *
 * @example Usage
 * ```ts ignore
 * let task = await claimNextTask(sql, { claimedBy: "worker-1" });
 * while (task) {
 *   await work(task);
 *   task = await completeAndClaimNext(sql, task.id, {
 *     status: "complete",
 *     result: { status: "success" },
 *   }, { claimedBy: "worker-1" });
 * }
 * ```
 */
export async function completeAndClaimNext(
  db: Db,
  doneId: string,
  patch: TaskPatch,
  opts: ClaimOptions = {},
): Promise<Task | null> {
  const id = parse(taskId, doneId);
  const p = parse(taskPatch, patch);
  const o = parse(claimOptions, { ...opts, limit: 1 });
  const q = new Params();
  const ctes = `done AS (
      UPDATE tasks t SET ${patchSet(q, p)}
      WHERE t.id = ${q.add(id)}::uuid ${o.lease ? `AND ${FENCE_HOLDS}` : ""}
      RETURNING t.id
    ), claimed AS (${claimSql(q, o, "EXISTS (SELECT 1 FROM done)")})`;
  const select = "(SELECT count(*)::int FROM done) AS done, w.*";
  // One row always comes back: whether the patch landed, and the claimed task if any.
  const text = o.lease
    ? fencedSql(q, o.lease, ctes, "claimed", select)
    : `WITH ${ctes} SELECT ${select} FROM (SELECT 1) AS one LEFT JOIN claimed w ON true`;
  const rows = await query(db, text, q.values);
  if (o.lease) assertFenced(rows, o.lease);
  const [row] = rows;
  if (row.done === 0) throw new NotFoundError("task", id);
  return row.id === null ? null : TASK.map(row);
}
