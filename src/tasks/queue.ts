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
import { FENCE_HOLDS, fencedRows, fencedSql } from "../leadership/fence.ts";
import { claimSql, ORDER } from "./_claim.ts";
import type { Lease } from "../leadership/lease.ts";
import { TASK } from "./_rows.ts";
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
 * leader died or was cut off) and returns them to the queue (retry + 1) or
 * completes them as failed, appending a result message that says why. The
 * write is fenced by `lease`.
 *
 * @param db A pool or transaction.
 * @param lease The caller's current lease.
 * @param opts Where recovered tasks go.
 * @returns The recovered tasks, oldest first.
 * @throws {ValidationError} Bad input.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * elector.addEventListener("elected", async () => {
 *   const orphans = await recoverTasks(sql, elector.lease!);
 * });
 * ```
 */
export async function recoverTasks(
  db: Db,
  lease: Lease,
  opts: RecoverTasksOptions = {},
): Promise<Task[]> {
  const l = parse(leaseSchema, lease);
  const { to } = parse(recoverOptions, opts);
  const q = new Params();
  const recover = recoverCtes(q, l, to === "failed");
  const recovered = fencedRows(await query(db, fencedSql(q, l, recover, "recovered"), q.values), l);
  if (recovered.length === 0) return [];
  // Read after the write, so the error count includes the note just appended.
  const rows = await query(
    db,
    `SELECT ${TASK.sql} FROM tasks t
    WHERE t.id IN (SELECT jsonb_array_elements_text($1::text::jsonb)::uuid)
    ORDER BY t.created, t.id`,
    [JSON.stringify(recovered.map((r) => r.id))],
  );
  return rows.map(TASK.map);
}

/** The CTEs of {@linkcode recoverTasks}: find, move and note the orphans. */
function recoverCtes(q: Params, l: Lease, failed: boolean): string {
  const term = q.add(l.term);
  return `orphans AS (
      SELECT id, claimed_by, claimed_term FROM tasks
      WHERE status = 'running' AND claimed_term < ${term}::bigint AND ${FENCE_HOLDS}
      FOR UPDATE
    ), recovered AS (
      UPDATE tasks t SET
        ${
    failed
      ? `status = 'complete', result_status = 'failure',
           result_reason = 'its leader lost the lease while it ran'`
      : "status = 'queued', retry = t.retry + 1"
  },
        claimed_by = NULL, claimed_term = NULL,
        updated = clock_timestamp(), version = t.version + 1
      FROM orphans o WHERE t.id = o.id
      RETURNING t.id
    ), noted AS (
      INSERT INTO result_messages (task_id, message, error, context, context_type)
      SELECT o.id,
             format('running under term %s (%s), whose leader is gone; %s by term %s',
                    o.claimed_term, coalesce(o.claimed_by, 'unknown'),
                    ${q.add(failed ? "marked failed" : "returned to the queue")}::text,
                    ${term}::bigint),
             ${q.add(failed)}::boolean, ${q.add(l.holder)}::text, 'leader'
      FROM orphans o
    )`;
}
