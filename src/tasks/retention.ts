/**
 * Retention: deleting old, finished task trees with their messages and
 * events. Build data is kept: it outlives tasks.
 *
 * @module
 */
import { z } from "zod";
import { type Db, query } from "../db.ts";
import { parse } from "../_validation.ts";
import { pgDate } from "../_schemas.ts";
import { TaskStatus } from "./types.ts";

const statuses = Object.values(TaskStatus) as [TaskStatus, ...TaskStatus[]];
const cutoffArg = z.object({ cutoff: pgDate });
const retentionOptions = z.strictObject({
  statuses: z.array(z.enum(statuses)).min(1).default(["complete", "terminated"]),
});

/** Options of {@linkcode deleteTasksOlderThan}. */
export interface DeleteTasksOptions {
  /**
   * A tree is deleted only when every task in it has one of these statuses.
   * @default ["complete", "terminated"]: finished trees only
   */
  statuses?: TaskStatus[];
}

/**
 * Deletes top-level tasks created before `cutoff` with all their subtasks,
 * messages and events — only trees in which every task is finished
 * (`complete` or `terminated`) unless `statuses` says otherwise — in
 * batches of 1,000 trees so no statement holds many locks for long. A
 * tree with a task still queued or running is kept whole. Build data is
 * kept: it outlives tasks.
 *
 * @param db A pool or transaction.
 * @param cutoff Trees whose top-level task was created before this are deleted.
 * @param opts The statuses every task of a deleted tree must have.
 * @returns How many tasks were deleted, subtasks included.
 * @throws {ValidationError} `cutoff` is not a valid date, or a bad status.
 *
 * @example Usage
 * ```ts ignore
 * const weekAgo = new Date(Date.now() - 7 * 86_400_000);
 * console.log(await deleteTasksOlderThan(sql, weekAgo), "tasks deleted");
 * ```
 */
export async function deleteTasksOlderThan(
  db: Db,
  cutoff: Date,
  opts: DeleteTasksOptions = {},
): Promise<number> {
  const before = parse(cutoffArg, { cutoff }).cutoff;
  const o = parse(retentionOptions, opts);
  const allowed = JSON.stringify(o.statuses);
  let total = 0;
  // Keyset over the roots examined, so a batch of kept (unfinished) trees
  // does not end the walk before the deletable ones behind it.
  let after: [string | null, string | null] = [null, null];
  for (;;) {
    const [row] = await query(db, DELETE_TREES, [before, allowed, after[0], after[1]]);
    total += row.n;
    if (row.examined < 1000) return total;
    after = [row.last_created, row.last_id];
  }
}

/** One batch: 1,000 roots by age, their trees, the finished ones deleted (with their events). */
const DELETE_TREES = `
    WITH RECURSIVE roots AS (
      SELECT id, created FROM tasks
      WHERE created < $1::timestamptz AND parent_task_id IS NULL
        AND ($3::text IS NULL OR (created, id) > ($3::text::timestamptz, $4::uuid))
      ORDER BY created, id LIMIT 1000
    ), tree AS (
      SELECT id, id AS root, status FROM tasks WHERE id IN (SELECT id FROM roots)
      UNION
      SELECT c.id, tree.root, c.status FROM tasks c JOIN tree ON c.parent_task_id = tree.id
    ), kept AS (
      SELECT DISTINCT root FROM tree
      WHERE status NOT IN (SELECT jsonb_array_elements_text($2::text::jsonb))
    ), doomed AS (
      SELECT id FROM tree WHERE root NOT IN (SELECT root FROM kept)
    ), gone AS (
      DELETE FROM tasks WHERE id IN (SELECT id FROM doomed) RETURNING 1
    ), events AS (
      DELETE FROM task_events WHERE task_id IN (SELECT id FROM doomed)
    )
    SELECT (SELECT count(*)::int FROM gone) AS n,
           (SELECT count(*)::int FROM roots) AS examined,
           (SELECT created::text FROM roots ORDER BY created DESC, id DESC LIMIT 1) AS last_created,
           (SELECT id FROM roots ORDER BY created DESC, id DESC LIMIT 1) AS last_id`;
