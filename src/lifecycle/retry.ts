/**
 * Retrying a task for its failed entities, with back-off: Drydock's
 * `retry_task(max_attempts)`.
 *
 * @module
 */
import { z } from "zod";
import { type Db, Params, query } from "../db.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { leaseSchema, taskId } from "../_schemas.ts";
import { APPEND_LOCK } from "../result_messages.ts";
import { FENCE_HOLDS, fencedRows, fencedSql } from "../leadership/fence.ts";
import { TASK } from "../tasks/_rows.ts";
import { maxAttempts } from "../tasks/_schemas.ts";
import type { RetryResult, RetryTaskOptions } from "./types.ts";

/** The longest back-off: 5 minutes, as DESIGN.md says. */
const MAX_BACKOFF_MS = 300_000;
const backoffMs = z.number().min(0).max(30 * 86_400_000);
const retryOptions = z.strictObject({
  maxAttempts: maxAttempts.optional(),
  backoffMs: z.union([
    backoffMs,
    z.custom<(retry: number) => number>((v) => typeof v === "function"),
  ])
    .optional(),
  lease: leaseSchema.optional(),
});

/** The message Drydock's `retry_task` leaves on a task it retries. */
export const RETRYING = "Retrying task for failed entities.";
/** The message it leaves when the task is out of attempts. */
export const OUT_OF_ATTEMPTS = "Retry requested, out of attempts.";
/** The message left when the task's termination was requested. */
const TERMINATING = "Retry requested, but termination of the task was requested.";

/**
 * Retries a task, in one statement, by DESIGN.md's rule: "when the result
 * is not success, has failures, and retry < maxAttempts (or no maximum),
 * then retry + 1, result status success if it has successes else
 * incomplete, a message 'Retrying task for failed entities.', status
 * queued with runAfter = now + back-off". Its failures are cleared for the
 * new attempt (the message names them). When it has failures but no
 * attempts left, or its termination was requested, it stays as it is with
 * a message saying so; with nothing to retry (a success, no failures) it
 * is left alone. Claims never take it before its `runAfter`.
 *
 * @param db A pool or transaction.
 * @param id The task.
 * @param opts The maximum (default: the `maxAttempts` it was claimed with), the back-off, a lease.
 * @returns Whether it was queued again, and the task after the call.
 * @throws {ValidationError} Bad input; nothing written.
 * @throws {NotFoundError} No such task.
 * @throws {ConflictError} With a `backoffMs` function: the task kept changing while it was read.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * const { retried } = await retryTask(sql, task.id, { maxAttempts: 3 });
 * if (!retried) await updateTask(sql, task.id, { status: "complete" });
 * ```
 */
export async function retryTask(
  db: Db,
  id: string,
  opts: RetryTaskOptions = {},
): Promise<RetryResult> {
  const tid = parse(taskId, id);
  const o = parse(retryOptions, opts);
  // A function of the retry count needs the count first: read it, then
  // retry only if it is still that (a few rounds, should it change).
  for (let round = 0; round < 5; round++) {
    let backoff: number | undefined;
    let expected: number | undefined;
    if (typeof o.backoffMs === "function") {
      const [row] = await query(db, "SELECT retry FROM tasks WHERE id = $1::uuid", [tid]);
      if (!row) throw new NotFoundError("task", tid);
      expected = row.retry as number;
      backoff = parse(backoffMs, o.backoffMs(expected));
    } else backoff = o.backoffMs;
    const result = await retryOnce(db, tid, o.maxAttempts, backoff, expected, o.lease);
    if (result) return result;
  }
  throw new ConflictError(`task ${tid} kept changing while it was being retried`);
}

/** One statement of {@linkcode retryTask}; `null` when the task is no longer at `expected`. */
async function retryOnce(
  db: Db,
  id: string,
  max: number | undefined,
  backoff: number | undefined,
  expected: number | undefined,
  lease: RetryTaskOptions["lease"],
): Promise<RetryResult | null> {
  const q = new Params();
  const task = `${q.add(id)}::uuid`;
  // "default exponential from 1 s with jitter, capped at 5 min": ±25 %.
  const delay = backoff === undefined
    ? `least(${MAX_BACKOFF_MS}, 1000 * power(2, least(c.retry, 20)) * (0.75 + random() / 2))`
    : `${q.add(backoff)}::float8`;
  const ctes = `c AS (
      SELECT id, retry, terminate,
             array_to_string(result_failures, ', ') AS failed,
             result_status <> 'success' AND cardinality(result_failures) > 0 AS failing,
             NOT terminate AND retry < coalesce(${
    q.add(max ?? null)
  }::int, max_attempts, 2147483647)
               AS left
      FROM tasks WHERE id = ${task} ${lease ? `AND ${FENCE_HOLDS}` : ""}
        ${expected === undefined ? "" : `AND retry = ${q.add(expected)}::int`}
      FOR NO KEY UPDATE
    ), retried AS (
      UPDATE tasks t SET retry = t.retry + 1, status = 'queued',
        result_status = CASE WHEN cardinality(t.result_successes) > 0
                          THEN 'success' ELSE 'incomplete' END,
        result_failures = '{}',
        run_after = clock_timestamp() + ${delay} * interval '1 millisecond',
        claimed_by = NULL, claimed_term = NULL, heartbeat_at = NULL,
        updated = clock_timestamp(), version = t.version + 1
      FROM c WHERE t.id = c.id AND c.failing AND c.left
      RETURNING ${TASK.sql}
    ), noted AS (
      INSERT INTO result_messages (task_id, message, error, context, context_type)
      SELECT c.id, CASE WHEN c.left THEN ${q.add(RETRYING)}::text
                        WHEN c.terminate THEN ${q.add(TERMINATING)}::text
                        ELSE ${q.add(OUT_OF_ATTEMPTS)}::text END,
             false, c.failed, 'retry'
      FROM c, LATERAL (SELECT pg_advisory_xact_lock(${APPEND_LOCK},
                         hashtext(current_schema() || ':' || c.id::text))) AS l
      WHERE c.failing
    ), outcome AS (
      SELECT true AS retried, r.* FROM retried r
      UNION ALL
      SELECT false, ${TASK.sql} FROM tasks t
      WHERE t.id IN (SELECT id FROM c) AND NOT EXISTS (SELECT 1 FROM retried)
    )`;
  const rows = lease
    ? fencedRows(await query(db, fencedSql(q, lease, ctes, "outcome"), q.values), lease)
    : await query(db, `WITH ${ctes} SELECT * FROM outcome`, q.values);
  if (rows.length > 0) return { retried: rows[0].retried, task: TASK.map(rows[0]) };
  if (expected !== undefined) {
    const [row] = await query(db, "SELECT 1 FROM tasks WHERE id = $1::uuid", [id]);
    if (row) return null;
  }
  throw new NotFoundError("task", id);
}
