/**
 * Creating tasks: one at a time, or many in one statement, all or none.
 *
 * @module
 */
import { type Db, jsonParam, query, toDate } from "../db.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { mapConstraintError } from "../_sqlstate.ts";
import { taskInput, taskInputs, type ValidTaskInput } from "./_schemas.ts";
import type { Task, TaskInput } from "./types.ts";

/**
 * Creates a task. Its id is random unless given; its status is
 * `"requested"` unless given.
 *
 * @param db A pool or transaction.
 * @param input The task.
 * @returns The stored task.
 * @throws {ValidationError} Bad input; nothing written.
 * @throws {NotFoundError} `parentTaskId` names no task.
 * @throws {ConflictError} A task with this id exists.
 *
 * @example Usage
 * ```ts ignore
 * const task = await createTask(sql, { action: "deploy_nodes", nodeFilter: { rack: "r1" } });
 * ```
 */
export async function createTask(db: Db, input: TaskInput): Promise<Task> {
  const t = parse(taskInput, input);
  const id = t.id ?? crypto.randomUUID();
  const nodeFilter = jsonParam(t.nodeFilter);
  const requestContext = jsonParam(t.requestContext);
  const rows = await query(db, INSERT_TASK, [
    id,
    t.parentTaskId ?? null,
    t.action,
    t.status,
    t.designRef ?? null,
    nodeFilter,
    requestContext,
    t.retry,
    t.createdBy ?? null,
    t.runAfter ?? null,
  ]).catch((err) => {
    throw writeError(err, id, t.parentTaskId ?? undefined);
  });
  // The JSON sent, parsed back: the stored values, not the caller's objects.
  return newTask({
    ...t,
    id,
    nodeFilter: nodeFilter === null ? null : JSON.parse(nodeFilter),
    requestContext: requestContext === null ? null : JSON.parse(requestContext),
  }, rows[0].created);
}

const INSERT_TASK = `
    INSERT INTO tasks AS t (id, parent_task_id, action, status, design_ref, node_filter,
                            request_context, retry, created_by, run_after)
    VALUES ($1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text::jsonb, $7::text::jsonb,
            $8::int, $9::text, $10::timestamptz)
    RETURNING t.created`;

/**
 * Creates many tasks in one statement, all or none. Tasks are created in
 * the order given (so they are claimed in that order), and a task may name
 * an earlier one of the same batch as its parent.
 *
 * @param db A pool or transaction.
 * @param inputs The tasks (at most 10,000).
 * @returns The stored tasks, in the order given.
 * @throws {ValidationError} Any bad input (paths start with its index); nothing written.
 * @throws {NotFoundError} A `parentTaskId` names no task.
 * @throws {ConflictError} A task with one of the ids exists.
 *
 * @example Usage
 * ```ts ignore
 * const tasks = await createTasks(sql, nodes.map((node) => ({
 *   action: "deploy_node", status: "queued", nodeFilter: { node_names: [node] },
 * })));
 * ```
 */
export async function createTasks(db: Db, inputs: TaskInput[]): Promise<Task[]> {
  const list = parse(taskInputs, inputs)
    .map((t) => ({ ...t, id: t.id ?? crypto.randomUUID() }));
  if (list.length === 0) return [];
  const payload = JSON.stringify(list);
  const rows = await query(db, INSERT_TASKS, [payload]).catch((err) => {
    throw writeError(err, "?", "?");
  });
  const created = new Map(rows.map((r) => [r.id, r.created]));
  // The JSON sent, parsed back: the stored values, not the caller's objects.
  const sent: typeof list = JSON.parse(payload);
  return sent.map((t, i) => newTask({ ...t, runAfter: list[i].runAfter }, created.get(t.id)));
}

const INSERT_TASKS = `
    INSERT INTO tasks AS t (id, parent_task_id, action, status, design_ref, node_filter,
                            request_context, retry, created_by, run_after)
    SELECT (r->>'id')::uuid, (r->>'parentTaskId')::uuid, r->>'action', r->>'status',
           r->>'designRef', nullif(r->'nodeFilter', 'null'), nullif(r->'requestContext', 'null'),
           (r->>'retry')::int, r->>'createdBy', (r->>'runAfter')::timestamptz
    FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS x(r, n)
    ORDER BY n
    RETURNING t.id, t.created`;

/**
 * A task as its INSERT stored it: the input, the database's defaults and
 * the `created` it returned. Only `created` comes back over the wire:
 * returning and mapping whole rows cost 40% of a batch insert (measured).
 * Callers pass JSON values parsed back from the text they sent, so the
 * record shares no object with their input.
 */
function newTask(t: ValidTaskInput & { id: string }, created: unknown): Task {
  return {
    id: t.id,
    parentTaskId: t.parentTaskId ?? null,
    action: t.action,
    status: t.status,
    designRef: t.designRef ?? null,
    nodeFilter: t.nodeFilter ?? null,
    requestContext: t.requestContext ?? null,
    retry: t.retry,
    createdBy: t.createdBy ?? null,
    created: toDate(created),
    updated: null,
    claimedBy: null,
    claimedTerm: null,
    terminate: false,
    terminated: null,
    terminatedBy: null,
    version: 1,
    runAfter: t.runAfter ? new Date(t.runAfter) : null,
    heartbeatAt: null,
    result: {
      status: "incomplete",
      message: null,
      reason: null,
      successes: [],
      failures: [],
      links: [],
      errorCount: 0,
    },
    subtaskIds: [],
  };
}

/** A taken id or a missing parent as our error; the key named by the error wins. */
function writeError(err: unknown, id: string, parentId: string | undefined): unknown {
  return mapConstraintError(err, {
    unique: (key, cause) => new ConflictError(`task ${key ?? id} already exists`, { cause }),
    foreignKey: (key, cause) =>
      parentId === undefined ? cause as Error : new NotFoundError("task", key ?? parentId, {
        cause,
      }),
  });
}
