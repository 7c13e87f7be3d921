/**
 * Reading tasks: one task with its messages, filtered keyset pages, a
 * stream of every task, and a task's subtasks. Each read is one statement.
 *
 * @module
 */
import { type Db, Params, query } from "../db.ts";
import { parse } from "../_validation.ts";
import { taskId } from "../_schemas.ts";
import { TASK, taskSelect } from "./_rows.ts";
import { getOptions, listOptions, subtaskOptions } from "./_schemas.ts";
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
 *
 * @example Usage
 * ```ts ignore
 * let page = await listTasks(sql, { status: "queued", limit: 50 });
 * page = await listTasks(sql, { status: "queued", limit: 50, after: page.at(-1)!.id });
 * ```
 */
export async function listTasks(db: Db, opts: ListTasksOptions = {}): Promise<Task[]> {
  const o = parse(listOptions, opts);
  const select = taskSelect(o.messages);
  const q = new Params();
  const where = ["true"];
  if (o.status !== undefined) {
    const statuses = [o.status].flat().map((v) => `${q.add(v)}::text`);
    where.push(`t.status IN (${statuses.join(", ")})`);
  }
  if (o.action) where.push(`t.action = ${q.add(o.action)}::text`);
  if (o.parentTaskId) where.push(`t.parent_task_id = ${q.add(o.parentTaskId)}::uuid`);
  if (o.after) {
    const after = q.add(o.after);
    where.push(
      `(t.created, t.id) > (SELECT a.created, a.id FROM tasks a WHERE a.id = ${after}::uuid)`,
    );
  }
  const rows = await query(
    db,
    `SELECT ${select.sql} FROM tasks t
    WHERE ${where.join(" AND ")}
    ORDER BY t.created, t.id
    LIMIT ${q.add(o.limit)}::int`,
    q.values,
  );
  return rows.map(select.map);
}

/**
 * Streams every task matching the filters, oldest first, one keyset page
 * at a time, so a million tasks never sit in memory together. Each page
 * is its own statement: tasks created meanwhile at the end are included.
 *
 * @param db A pool or transaction.
 * @param opts The filters of {@linkcode listTasks}, a starting `after`, and the page size.
 * @returns An async iterator over the tasks.
 * @throws {ValidationError} Bad filters (when iteration starts).
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
  let after = filters.after;
  for (;;) {
    const page = await listTasks(db, { ...filters, after, limit: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1].id;
  }
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
