/**
 * Asking for a task to be terminated.
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
 * Asks for a task to be terminated: sets `terminate`, `terminated` (now,
 * unless already set) and `terminatedBy` at once. The orchestrator
 * finishes the termination.
 *
 * @param db A pool or transaction.
 * @param id The task.
 * @param opts Who asks.
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
  const { by } = parse(terminationOptions, opts);
  const [row] = await query(
    db,
    `UPDATE tasks t SET terminate = true,
      terminated = coalesce(t.terminated, clock_timestamp()),
      terminated_by = coalesce(t.terminated_by, $2::text),
      updated = clock_timestamp(), version = t.version + 1
    WHERE t.id = $1::uuid
    RETURNING ${TASK.sql}`,
    [tid, by ?? null],
  );
  if (!row) throw new NotFoundError("task", tid);
  return TASK.map(row);
}
