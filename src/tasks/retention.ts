/**
 * Retention: deleting old task trees with their messages. Build data is
 * kept: it outlives tasks.
 *
 * @module
 */
import { z } from "zod";
import { type Db, query } from "../db.ts";
import { parse } from "../_validation.ts";

/**
 * Deletes top-level tasks created before `cutoff` with all their subtasks
 * and messages, in batches of 1,000 trees so no statement holds many locks
 * for long. Build data is kept: it outlives tasks.
 *
 * @param db A pool or transaction.
 * @param cutoff Tasks created before this are deleted.
 * @returns How many tasks were deleted, subtasks included.
 * @throws {ValidationError} `cutoff` is not a valid date.
 *
 * @example Usage
 * ```ts ignore
 * const weekAgo = new Date(Date.now() - 7 * 86_400_000);
 * console.log(await deleteTasksOlderThan(sql, weekAgo), "tasks deleted");
 * ```
 */
export async function deleteTasksOlderThan(db: Db, cutoff: Date): Promise<number> {
  const before = parse(z.date(), cutoff);
  let total = 0;
  for (;;) {
    const [{ n }] = await query(db, DELETE_TREES, [before]);
    total += n;
    if (n === 0) return total;
  }
}

// One batch of 1,000 trees: their roots by age, then every descendant.
const DELETE_TREES = `
    WITH RECURSIVE roots AS (
      SELECT id FROM tasks
      WHERE created < $1::timestamptz AND parent_task_id IS NULL
      ORDER BY created, id LIMIT 1000
    ), tree AS (
      SELECT id FROM roots
      UNION ALL
      SELECT c.id FROM tasks c JOIN tree ON c.parent_task_id = tree.id
    ), gone AS (
      DELETE FROM tasks WHERE id IN (SELECT id FROM tree) RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`;
