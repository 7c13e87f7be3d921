/**
 * Stuck-task rescue: workers prove they are alive with heartbeats, and
 * running tasks whose heartbeat stopped are recovered, with or without a
 * leader's lease.
 *
 * @module
 */
import { z } from "zod";
import { type Db, Params, query } from "../db.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { actor, taskId } from "../_schemas.ts";
import { FENCE_HOLDS, fencedRows, fencedSql } from "../leadership/fence.ts";
import { readRecovered, recoverCtes } from "../tasks/_recover.ts";
import { staleAfterMs } from "../tasks/_schemas.ts";
import type { Task } from "../tasks/types.ts";
import { leaseOptions } from "./outcome.ts";
import type { LeaseOptions, RescueStaleTasksOptions } from "./types.ts";

const rescueOptions = z.strictObject({
  staleAfterMs,
  to: z.enum(["queued", "failed"]).default("queued"),
  by: actor.default("rescue"),
});

/**
 * Renews a running task's heartbeat (`heartbeatAt`, database clock), so
 * {@linkcode rescueStaleTasks} and `recoverTasks({staleAfterMs})` leave it
 * alone. It is liveness, not a change: `version` and `updated` stay, so a
 * worker's `expectedVersion` still holds after heartbeats.
 *
 * @param db A pool or transaction.
 * @param id The task.
 * @param opts A lease to fence the write.
 * @throws {ValidationError} Bad input.
 * @throws {NotFoundError} No such task.
 * @throws {ConflictError} The task is no longer running (rescued, finished or requeued):
 *   its worker should stop.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * const beat = setInterval(() => heartbeatTask(sql, task.id).catch(stop), 10_000);
 * ```
 */
export async function heartbeatTask(db: Db, id: string, opts: LeaseOptions = {}): Promise<void> {
  const tid = parse(taskId, id);
  const { lease } = parse(leaseOptions, opts);
  const q = new Params();
  const beat = `UPDATE tasks SET heartbeat_at = clock_timestamp()
    WHERE id = ${q.add(tid)}::uuid AND status = 'running' ${lease ? `AND ${FENCE_HOLDS}` : ""}
    RETURNING id`;
  const rows = lease
    ? fencedRows(await query(db, fencedSql(q, lease, `w AS (${beat})`, "w"), q.values), lease)
    : await query(db, beat, q.values);
  if (rows.length > 0) return;
  const [row] = await query(db, "SELECT status FROM tasks WHERE id = $1::uuid", [tid]);
  if (!row) throw new NotFoundError("task", tid);
  throw new ConflictError(`task ${tid} is ${row.status}, not running: its heartbeat was refused`);
}

/**
 * Recovers running tasks of any term, unleased ones included, whose
 * heartbeat is older than `staleAfterMs` — for deployments that run no
 * leader election: the task of a worker that was killed goes back to the
 * queue (retry + 1) or, with `to: "failed"`, completes as a failure, with a
 * result message saying why. A task claimed with `maxAttempts` whose
 * retries have reached it fails instead; one whose termination was
 * requested becomes `terminated`. `recoverTasks` does the same for a
 * leader, fenced by its lease.
 *
 * @param db A pool or transaction.
 * @param opts How old a heartbeat makes a task stale; where rescued tasks go; who rescues.
 * @returns The rescued tasks, oldest first.
 * @throws {ValidationError} Bad options.
 *
 * @example Usage
 * ```ts ignore
 * // Workers heartbeat every 10 s; a minute without one means the worker is gone.
 * const rescued = await rescueStaleTasks(sql, { staleAfterMs: 60_000 });
 * ```
 */
export async function rescueStaleTasks(db: Db, opts: RescueStaleTasksOptions): Promise<Task[]> {
  const o = parse(rescueOptions, opts);
  const q = new Params();
  const ctes = recoverCtes(q, {
    staleAfterMs: o.staleAfterMs,
    failed: o.to === "failed",
    fenced: false,
    by: o.by,
  });
  const rows = await query(db, `WITH ${ctes} SELECT id FROM recovered`, q.values);
  return await readRecovered(db, rows.map((r) => r.id));
}
