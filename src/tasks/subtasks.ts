/**
 * Linking a task under a parent. Subtask ids are derived from
 * `parent_task_id`, the one source of truth.
 *
 * @module
 */
import { type Db, query } from "../db.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { subtaskLink } from "./_schemas.ts";
import { inTransaction } from "./_tx.ts";

/**
 * Makes `subtaskId` a subtask of `parentId`. Idempotent: adding it again
 * to the same parent does nothing.
 *
 * @param db A pool or transaction.
 * @param parentId The parent task.
 * @param subtaskId The task that becomes its subtask.
 * @throws {ValidationError} Bad ids, or a task made its own subtask.
 * @throws {NotFoundError} Either task is missing.
 * @throws {ConflictError} The subtask has another parent, or the link would make a cycle.
 *
 * @example Usage
 * ```ts ignore
 * await addSubtask(sql, parent.id, child.id);
 * ```
 */
export async function addSubtask(db: Db, parentId: string, subtaskId: string): Promise<void> {
  const { parent, child } = parse(subtaskLink, { parent: parentId, child: subtaskId });
  const row = await inTransaction(db, async (tx) => {
    // A cycle needs the child to be the root of the parent's tree (a task
    // with a parent cannot be linked), so two links that would close one
    // between them share a root: lock the parent's root and the child, in
    // id order (no deadlock), then check and link in a second statement,
    // whose snapshot sees every link committed before the locks were
    // granted. Checked in one statement, concurrent addSubtask(A, B) and
    // addSubtask(B, A) could both pass and make a cycle.
    for (let round = 0; round < 5; round++) {
      const [root] = await query(tx, LOCK_ROOTS, [parent, child]);
      const [row] = await query(tx, ADD_SUBTASK, [parent, child, root?.root ?? null]);
      if (Number(row.root_moved) === 0) return row;
    }
    throw new ConflictError(`the tree of task ${parent} kept moving while ${child} was linked`);
  });
  if (Number(row.linked) === 1) return;
  if (Number(row.parent_exists) === 0) throw new NotFoundError("task", parent);
  if (Number(row.child_exists) === 0) throw new NotFoundError("task", child);
  if (row.current_parent === parent) return;
  if (Number(row.cycle) > 0) {
    throw new ConflictError(`task ${child} is an ancestor of ${parent}: that would be a cycle`);
  }
  throw new ConflictError(`task ${child} is already a subtask of ${row.current_parent}`);
}

// The parent $1 and every task above it.
const ANCESTORS = `ancestors AS (
      SELECT id, parent_task_id FROM tasks WHERE id = $1::uuid
      UNION
      SELECT a.id, a.parent_task_id FROM tasks a JOIN ancestors d ON a.id = d.parent_task_id
    )`;

// $1 the parent, $2 the child: locks the parent's root and the child.
const LOCK_ROOTS = `
    WITH RECURSIVE ${ANCESTORS}, locked AS (
      SELECT id FROM tasks
      WHERE id = $2::uuid OR id IN (SELECT id FROM ancestors WHERE parent_task_id IS NULL)
      ORDER BY id FOR NO KEY UPDATE
    )
    SELECT (SELECT id FROM ancestors WHERE parent_task_id IS NULL LIMIT 1) AS root,
           (SELECT count(*) FROM locked) AS locked`;

// $1 the parent, $2 the child, $3 the root locked. One row always comes
// back, saying why nothing was linked when nothing was, or that the
// parent's root is no longer the one locked (a concurrent link moved its
// tree: lock again).
const ADD_SUBTASK = `
    WITH RECURSIVE ${ANCESTORS}, moved AS (
      SELECT 1 FROM ancestors
      WHERE parent_task_id IS NULL AND id IS DISTINCT FROM $3::uuid
    ), linked AS (
      UPDATE tasks t SET parent_task_id = $1::uuid, version = t.version + 1,
                         updated = clock_timestamp()
      WHERE t.id = $2::uuid AND t.parent_task_id IS NULL
        AND EXISTS (SELECT 1 FROM ancestors WHERE id = $1::uuid)
        AND NOT EXISTS (SELECT 1 FROM moved)
        AND NOT EXISTS (SELECT 1 FROM ancestors WHERE id = $2::uuid)
      RETURNING t.id
    )
    SELECT (SELECT count(*) FROM linked) AS linked, (SELECT count(*) FROM moved) AS root_moved,
           (SELECT count(*) FROM ancestors WHERE id = $1::uuid) AS parent_exists,
           (SELECT count(*) FROM ancestors WHERE id = $2::uuid) AS cycle,
           (SELECT count(*) FROM tasks WHERE id = $2::uuid) AS child_exists,
           (SELECT parent_task_id FROM tasks WHERE id = $2::uuid) AS current_parent`;
