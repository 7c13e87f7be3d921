/**
 * The queue: claiming queued tasks (one, or a batch, oldest first, `SKIP
 * LOCKED`), fenced by a leader's lease when given, and recovering the
 * tasks a lost leader left running.
 *
 * @module
 */
import { type Db, Params, query } from "../db.ts";
import { parse } from "../_validation.ts";
import { leaseSchema } from "../_schemas.ts";
import { fencedRows, fencedSql } from "../leadership/fence.ts";
import { claimSql, ORDER } from "./_claim.ts";
import type { Lease } from "../leadership/types.ts";
import { TASK } from "./_rows.ts";
import { readRecovered, recoverCtes } from "./_recover.ts";
import { claimOptions, recoverOptions } from "./_schemas.ts";
import type { ClaimOptions, ClaimTasksOptions, RecoverTasksOptions, Task } from "./types.ts";

/**
 * Claims the oldest queued task (optionally of the given actions): it
 * becomes `running` atomically, and concurrent claimers skip it
 * (`FOR UPDATE SKIP LOCKED`). With a lease the claim is fenced and the
 * lease's term is recorded on the task, so a later leader can recover it.
 *
 * @param db A pool or transaction.
 * @param opts Action filter, claimer, lease.
 * @returns The claimed task, or `null` when none is queued.
 * @throws {ValidationError} Bad options.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * const task = await claimNextTask(sql, { actions: ["deploy_nodes"], claimedBy: "worker-1" });
 * ```
 */
export async function claimNextTask(db: Db, opts: ClaimOptions = {}): Promise<Task | null> {
  const [task] = await claimTasks(db, { ...opts, limit: 1 });
  return task ?? null;
}

/**
 * Claims up to `limit` queued tasks, oldest first, in one statement; like
 * {@linkcode claimNextTask} otherwise.
 *
 * @param db A pool or transaction.
 * @param opts How many, action filter, claimer, lease.
 * @returns The claimed tasks, oldest first; `[]` when none is queued.
 * @throws {ValidationError} Bad options.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * const batch = await claimTasks(sql, { limit: 10, claimedBy: "worker-1" });
 * ```
 */
export async function claimTasks(db: Db, opts: ClaimTasksOptions): Promise<Task[]> {
  const o = parse(claimOptions, opts);
  const p = new Params();
  const claim = claimSql(p, o);
  if (o.lease) {
    const text = fencedSql(p, o.lease, `claimed AS (${claim})`, "claimed", "w.*", ORDER);
    return fencedRows(await query(db, text, p.values), o.lease).map(TASK.map);
  }
  const text = o.limit === 1
    ? claim
    : `WITH claimed AS (${claim}) SELECT * FROM claimed w ${ORDER}`;
  return (await query(db, text, p.values)).map(TASK.map);
}

/**
 * For a new leader: finds tasks left `running` under an older term (their
 * leader died or was cut off) and, with `staleAfterMs`, running tasks of
 * any term (unleased ones included) whose heartbeat is older than that;
 * returns them to the queue (retry + 1) or completes them as failed,
 * appending a result message that says why. A task claimed with
 * `maxAttempts` whose retries have reached it fails instead of being
 * requeued; one whose termination was requested becomes `terminated`. The
 * write is fenced by `lease`.
 *
 * @param db A pool or transaction.
 * @param lease The caller's current lease.
 * @param opts Where recovered tasks go; how old a heartbeat makes a task stale.
 * @returns The recovered tasks, oldest first.
 * @throws {ValidationError} Bad input.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * elector.addEventListener("elected", async () => {
 *   const orphans = await recoverTasks(sql, elector.lease!, { staleAfterMs: 60_000 });
 * });
 * ```
 */
export async function recoverTasks(
  db: Db,
  lease: Lease,
  opts: RecoverTasksOptions = {},
): Promise<Task[]> {
  const l = parse(leaseSchema, lease);
  const { to, staleAfterMs } = parse(recoverOptions, opts);
  const q = new Params();
  const recover = recoverCtes(q, {
    term: l.term,
    staleAfterMs,
    failed: to === "failed",
    fenced: true,
    by: l.holder,
  });
  const recovered = fencedRows(await query(db, fencedSql(q, l, recover, "recovered"), q.values), l);
  // Read after the write, so the error count includes the note just appended.
  return await readRecovered(db, recovered.map((r) => r.id));
}
