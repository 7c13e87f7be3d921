/**
 * Waiting for a task, or for a parent's subtasks, to finish: built on the
 * task-event log (`watchTasks`), with no polling loop of its own — a
 * matching event triggers one read of the task(s).
 *
 * @module
 */
import { z } from "zod";
import { assertSql, type Sql } from "../db.ts";
import { NotFoundError, StateError } from "../errors.ts";
import { Code } from "../_codes.ts";
import { parse } from "../_validation.ts";
import { action, taskId, timerMs } from "../_schemas.ts";
import { abortable, deadline } from "../_async.ts";
import { type TaskEvent, watchTasks } from "../events.ts";
import { getTask, listSubtasks } from "../tasks/read.ts";
import type { Task, TaskStatus } from "../tasks/types.ts";
import type { WaitForSubtasksOptions, WaitOptions } from "./types.ts";

const waitOptions = z.strictObject({
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal).optional(),
  timeoutMs: timerMs.optional(),
  pollMs: z.number().int().min(1).max(3_600_000).optional(),
});
const subtaskWaitOptions = waitOptions.extend({ action: action.optional() });

const FINISHED: readonly TaskStatus[] = ["complete", "terminated"];
const finished = (status: TaskStatus) => FINISHED.includes(status);

/**
 * Resolves with the task once it is `complete` or `terminated` (at once if
 * it is already).
 *
 * @param sql A pool (not a transaction): the wait reads on its own connections.
 * @param id The task.
 * @param opts An abort signal, a time-out, the event log's poll interval.
 * @returns The finished task.
 * @throws {TypeError} `sql` is not a postgres.js pool.
 * @throws {ValidationError} Bad input.
 * @throws {NotFoundError} No such task.
 * @throws {StateError} Code `timeout`: not finished within `timeoutMs`.
 * @throws {unknown} `signal.reason` when `signal` aborts.
 *
 * @example Usage
 * ```ts ignore
 * const done = await waitForTask(sql, task.id, { timeoutMs: 60_000 });
 * console.log(done.result.status);
 * ```
 */
export async function waitForTask(sql: Sql, id: string, opts: WaitOptions = {}): Promise<Task> {
  assertSql(sql, "waitForTask");
  const tid = parse(taskId, id);
  const o = parse(waitOptions, opts);
  return await waitUntil(
    sql,
    o,
    (e) => e.taskId === tid && finished(e.status),
    async () => {
      const task = await getTask(sql, tid, { messages: false });
      if (!task) throw new NotFoundError("task", tid);
      return finished(task.status) ? task : null;
    },
    `task ${tid}`,
  );
}

/**
 * Resolves with a parent's subtasks (of `action`, when given), oldest
 * first, once none of them is active (every one `complete` or
 * `terminated`; at once if that is so already, or if there are none).
 *
 * @param sql A pool (not a transaction): the wait reads on its own connections.
 * @param parentId The parent task.
 * @param opts An action filter, an abort signal, a time-out, the poll interval.
 * @returns The subtasks, all finished.
 * @throws {TypeError} `sql` is not a postgres.js pool.
 * @throws {ValidationError} Bad input.
 * @throws {NotFoundError} No such parent task.
 * @throws {StateError} Code `timeout`: some are still active after `timeoutMs`.
 * @throws {unknown} `signal.reason` when `signal` aborts.
 *
 * @example Usage
 * ```ts ignore
 * const subtasks = await waitForSubtasks(sql, parent.id, { action: "deploy_node" });
 * const parentNow = await rollUpResults(sql, parent.id, { action: "deploy_node" });
 * ```
 */
export async function waitForSubtasks(
  sql: Sql,
  parentId: string,
  opts: WaitForSubtasksOptions = {},
): Promise<Task[]> {
  assertSql(sql, "waitForSubtasks");
  const pid = parse(taskId, parentId);
  const o = parse(subtaskWaitOptions, opts);
  const mine = (a: string) => o.action === undefined || a === o.action;
  return await waitUntil(
    sql,
    o,
    (e) => e.parentTaskId === pid && mine(e.action) && finished(e.status),
    async () => {
      const subtasks = (await listSubtasks(sql, pid)).filter((t) => mine(t.action));
      if (subtasks.length === 0 && !await getTask(sql, pid, { messages: false })) {
        throw new NotFoundError("task", pid);
      }
      return subtasks.every((t) => finished(t.status)) ? subtasks : null;
    },
    `the subtasks of ${pid}`,
  );
}

/**
 * Watches the event log first, then reads once; after that, reads once per
 * event that `matches`, until `check` gives a value. Ends the watch, and
 * any read in flight, before it settles: no timer, listener or connection
 * outlives it.
 */
async function waitUntil<T>(
  sql: Sql,
  o: z.output<typeof waitOptions>,
  matches: (event: TaskEvent) => boolean,
  check: () => Promise<T | null>,
  what: string,
): Promise<T> {
  o.signal?.throwIfAborted();
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const result = new Promise<T>((res, rej) => [resolve, reject] = [res, rej]);
  let reads = Promise.resolve();
  const read = () => {
    reads = reads.then(async () => {
      const value = await check();
      if (value !== null) resolve(value);
    }).catch(reject);
  };
  const watch = await watchTasks(sql, (e) => {
    if (matches(e)) read();
  }, {
    pollMs: o.pollMs,
    onError: (err) => {
      // The watch retries a failed read itself; an expired cursor ends it.
      if ((err as StateError)?.code === Code.CursorExpired) reject(err);
    },
  });
  try {
    read(); // after subscribing: a change committed from now on is an event
    const waited = abortable(result, o.signal);
    return await (o.timeoutMs === undefined ? waited : deadline(
      waited,
      o.timeoutMs,
      () => new StateError(Code.Timeout, `${what} did not finish within ${o.timeoutMs} ms`),
    ));
  } finally {
    await watch.unlisten();
    await reads;
  }
}
