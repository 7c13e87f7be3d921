/**
 * Reading tasks: one task with its messages, filtered keyset pages, a
 * stream of every task, and a task's subtasks. Each read is one statement.
 *
 * @module
 */
import { type Db, query } from "../db.ts";
import { parse } from "../_validation.ts";
import { taskId } from "../_schemas.ts";
import { listPage } from "./_list.ts";
import { NotFoundError } from "../errors.ts";
import { getOptions, listOptions, subtaskOptions } from "./_schemas.ts";
import { TASK, taskSelect } from "./_rows.ts";
import type {
  GetTaskOptions,
  IterateTasksOptions,
  ListSubtasksOptions,
  ListTasksOptions,
  Task,
} from "./types.ts";

/**
 * Reads a task with its subtask ids, error count and (by default) its
 * result messages, in one statement.
 *
 * @param db A pool or transaction.
 * @param id The task's id.
 * @param opts Whether to attach messages.
 * @returns The task, or `null` when there is none.
 * @throws {ValidationError} `id` is not a UUID.
 *
 * @example Usage
 * ```ts ignore
 * const task = await getTask(sql, id);
 * console.log(task?.status, task?.result.errorCount, task?.messages?.length);
 * ```
 */
export async function getTask(
  db: Db,
  id: string,
  opts: GetTaskOptions = {},
): Promise<Task | null> {
  const tid = parse(taskId, id);
  const select = taskSelect(parse(getOptions, opts).messages);
  const [row] = await query(db, `SELECT ${select.sql} FROM tasks t WHERE t.id = $1::uuid`, [tid]);
  return row ? select.map(row) : null;
}

/**
 * Lists tasks in creation order, filtered and keyset-paged, in one
 * statement (messages included when asked for: no N+1).
 *
 * @param db A pool or transaction.
 * @param opts Filters and paging; pass the last task's id as `after` for the next page.
 * @returns The tasks, oldest first.
 * @throws {ValidationError} Bad filters.
 * @throws {NotFoundError} The `after` task no longer exists (use {@linkcode iterateTasks},
 *   whose cursor survives deletions).
 *
 * @example Usage
 * ```ts ignore
 * let page = await listTasks(sql, { status: "queued", limit: 50 });
 * page = await listTasks(sql, { status: "queued", limit: 50, after: page.at(-1)!.id });
 * ```
 */
export async function listTasks(db: Db, opts: ListTasksOptions = {}): Promise<Task[]> {
  const o = parse(listOptions, opts);
  const { tasks } = await listPage(db, o);
  if (tasks.length === 0 && o.after !== undefined) await assertCursorTask(db, o.after);
  return tasks;
}

/**
 * Streams every task matching the filters, oldest first, one keyset page
 * at a time, so a million tasks never sit in memory together. Each page
 * is its own statement: tasks created meanwhile at the end are included.
 * The cursor between pages is the last task's (created, id) values, not
 * its id, so deleting that task meanwhile does not end the stream.
 *
 * @param db A pool or transaction.
 * @param opts The filters of {@linkcode listTasks}, a starting `after`, and the page size.
 * @returns An async iterator over the tasks.
 * @throws {ValidationError} Bad filters (when iteration starts).
 * @throws {NotFoundError} The starting `after` names no task.
 *
 * @example Usage
 * ```ts ignore
 * for await (const task of iterateTasks(sql, { status: "complete" })) {
 *   archive(task);
 * }
 * ```
 */
export async function* iterateTasks(
  db: Db,
  opts: IterateTasksOptions = {},
): AsyncGenerator<Task, void, undefined> {
  const { pageSize = 500, ...filters } = opts;
  const o = parse(listOptions, { ...filters, limit: pageSize });
  let page = await listPage(db, o);
  if (page.tasks.length === 0 && o.after !== undefined) await assertCursorTask(db, o.after);
  for (;;) {
    yield* page.tasks;
    if (page.tasks.length < pageSize || !page.key) return;
    page = await listPage(db, o, page.key);
  }
}

/** Throws unless the cursor task `id` exists: an empty page after it would read as the end. */
async function assertCursorTask(db: Db, id: string): Promise<void> {
  const [row] = await query(db, "SELECT 1 FROM tasks WHERE id = $1::uuid", [id]);
  if (!row) throw new NotFoundError("task", id);
}

/**
 * Lists a task's subtasks, oldest first. `"active"` means not terminated
 * or complete (the query Drydock's Python got wrong); `"complete"` means
 * terminated or complete.
 *
 * @param db A pool or transaction.
 * @param parentId The parent task's id.
 * @param opts Which subtasks.
 * @returns The subtasks; `[]` when there are none.
 * @throws {ValidationError} Bad input.
 *
 * @example Usage
 * ```ts ignore
 * const running = await listSubtasks(sql, parent.id, { state: "active" });
 * ```
 */
export async function listSubtasks(
  db: Db,
  parentId: string,
  opts: ListSubtasksOptions = {},
): Promise<Task[]> {
  const pid = parse(taskId, parentId);
  const { state } = parse(subtaskOptions, opts);
  const rows = await query(
    db,
    `SELECT ${TASK.sql} FROM tasks t
    WHERE t.parent_task_id = $1::uuid ${SUBTASK_STATE[state]}
    ORDER BY t.created, t.id`,
    [pid],
  );
  return rows.map(TASK.map);
}

/** The filter of each `state` of {@linkcode listSubtasks}. */
const SUBTASK_STATE = {
  all: "",
  active: "AND t.status NOT IN ('terminated', 'complete')",
  complete: "AND t.status IN ('terminated', 'complete')",
} as const;
