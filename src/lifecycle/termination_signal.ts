/**
 * A worker's signal that termination of its task was requested: an
 * `AbortSignal` fed by the task-event log.
 *
 * @module
 */
import { assertSql, query, type Sql } from "../db.ts";
import { NotFoundError, StateError } from "../errors.ts";
import { Code } from "../_codes.ts";
import { parse } from "../_validation.ts";
import { taskId } from "../_schemas.ts";
import { watchTasks } from "../events.ts";
import type { TerminationSignal } from "./types.ts";

// The task and its ancestors, with their termination flags.
const CHAIN = `
    WITH RECURSIVE chain AS (
      SELECT id, parent_task_id, terminate FROM tasks WHERE id = $1::uuid
      UNION
      SELECT a.id, a.parent_task_id, a.terminate FROM tasks a JOIN chain c ON a.id = c.parent_task_id
    )
    SELECT id, terminate FROM chain`;

/**
 * An `AbortSignal` that aborts when termination of the task, or of one of
 * its ancestors, is requested ("at once if already requested", DESIGN.md),
 * within the event log's latency. Its reason is a `StateError` of code
 * `termination_requested`. Call `close()` when the work is done: it ends
 * the watch on the event log (once aborted, the watch ends by itself).
 *
 * @param sql A pool (not a transaction).
 * @param id The task a worker runs.
 * @returns The signal, and `close()`.
 * @throws {TypeError} `sql` is not a postgres.js pool.
 * @throws {ValidationError} `id` is not a UUID.
 * @throws {NotFoundError} No such task.
 *
 * @example Usage
 * ```ts ignore
 * const termination = await terminationSignal(sql, task.id);
 * try {
 *   await deployNode(node, { signal: termination.signal });
 * } finally {
 *   await termination.close();
 * }
 * ```
 */
export async function terminationSignal(sql: Sql, id: string): Promise<TerminationSignal> {
  assertSql(sql, "terminationSignal");
  const tid = parse(taskId, id);
  const control = new AbortController();
  let chain = new Set<string>([tid]);
  const abort = () => {
    if (control.signal.aborted) return;
    control.abort(
      new StateError(Code.TerminationRequested, `termination of task ${tid} was requested`),
    );
    closing ??= watch.unlisten();
  };
  let closing: Promise<void> | null = null;
  // Watch first, then read: a request committed after the read is an event.
  const watch = await watchTasks(sql, (e) => {
    if (e.kind === "termination_requested" && chain.has(e.taskId)) abort();
  });
  try {
    const rows = await query(sql, CHAIN, [tid]);
    if (rows.length === 0) throw new NotFoundError("task", tid);
    chain = new Set(rows.map((r) => r.id));
    if (rows.some((r) => r.terminate)) abort();
  } catch (err) {
    await watch.unlisten();
    throw err;
  }
  return {
    signal: control.signal,
    close: () => closing ??= watch.unlisten(),
  };
}
