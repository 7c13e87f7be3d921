/**
 * Reading, pruning and deleting the task-event log (`task_events`).
 *
 * @module
 */
import { z } from "zod";
import { type Db, query, toDate } from "../db.ts";
import { StateError } from "../errors.ts";
import { Code } from "../_codes.ts";
import type { TaskStatus } from "../tasks.ts";
import { parse } from "../_validation.ts";
import { pgDate, uuid } from "../_schemas.ts";
import { closedCursorText, type Cursor, decodeCursor, inWindow, windowPrefix } from "./cursor.ts";
import { CURRENT_CURSOR, READ_AFTER, READ_FROM_START, READ_IN_WINDOW } from "./_sql.ts";

/** What an event records. */
export type TaskEventKind = "created" | "status" | "termination_requested" | "result";

/** One event of the durable log: a new task, a change of status, a termination request, a result roll-up. */
export interface TaskEvent {
  /** The task. */
  taskId: string;
  /** Its parent, or `null` for a top-level task. */
  parentTaskId: string | null;
  /** Its action. */
  action: string;
  /** Its status after the change. */
  status: TaskStatus;
  /** What happened. */
  kind: TaskEventKind;
  /** When the change was written (database clock). */
  at: Date;
  /** Resuming with `after: cursor` yields exactly the events after this one. */
  cursor: string;
}

/** Options of {@linkcode readTaskEvents}. */
export interface ReadTaskEventsOptions {
  /**
   * A cursor from an earlier read or event.
   * @default the oldest event still kept
   */
  after?: string;
  /**
   * At most this many events (1 to 10,000).
   * @default 1000
   */
  limit?: number;
}

/** What {@linkcode readTaskEvents} returns. */
export interface TaskEventPage {
  /** The events, in order. */
  events: TaskEvent[];
  /** The cursor after them: pass it as `after` to read on. */
  cursor: string;
}

const cutoffArg = z.object({ cutoff: pgDate });

const readOptions = z.strictObject({
  after: z.string().optional(),
  limit: z.number().int().min(1).max(10_000).default(1000),
});

/**
 * Reads the task events after a cursor, in order: the pull form of
 * {@linkcode watchTasks}, one statement per call, with no LISTEN and no
 * session state, so it works behind PgBouncer's transaction pooling.
 * Events of a transaction that commits after a later one are still read,
 * once it commits; rolled-back ones never are. Within one task, events come
 * in the order of its changes; across tasks, in commit-visibility order.
 *
 * Inside a transaction that has written tasks, its own events are read
 * once it has committed, by a later call.
 *
 * @param db A pool or transaction.
 * @param opts Where to start, and how many events at most.
 * @returns The events and the cursor after them (it moves on even when
 *   there are none, so store it).
 * @throws {ValidationError} `after` is not a cursor, or `limit` is out of range.
 * @throws {StateError} Code `cursor_expired`: events the cursor had not
 *   seen have been pruned (start again without `after`).
 *
 * @example Usage
 * ```ts ignore
 * let cursor = await loadCursor(); // undefined the first time
 * for (;;) {
 *   const page = await readTaskEvents(sql, { after: cursor, limit: 500 });
 *   for (const e of page.events) console.log(e.kind, e.taskId, e.status);
 *   await saveCursor(cursor = page.cursor);
 *   if (page.events.length === 0) await new Promise((r) => setTimeout(r, 100));
 * }
 * ```
 */
export async function readTaskEvents(
  db: Db,
  opts: ReadTaskEventsOptions = {},
): Promise<TaskEventPage> {
  const o = parse(readOptions, opts);
  const after: Cursor | null = o.after === undefined ? null : decodeCursor(o.after);
  const n = o.limit + 1;
  const rows = after === null
    ? await query(db, READ_FROM_START, [n])
    : inWindow(after)
    ? await query(db, READ_IN_WINDOW, [after.p, after.s, after.c, after.h, after.lo, after.i, n])
    : await query(db, READ_AFTER, [after.p, after.s, n]);
  const w = rows[0];
  if (!w.fresh) {
    throw new StateError(
      Code.CursorExpired,
      "task events this cursor had not seen have been pruned; read again without `after`",
    );
  }
  const found = rows.filter((r) => r.id !== null);
  const more = found.length > o.limit;
  const page = more ? found.slice(0, o.limit) : found;
  // Once the window is exhausted the next read opens a new one after `c`.
  const next = closedCursorText({ p: w.c, s: w.h });
  const prefix = windowPrefix({ p: w.p, s: w.s, c: w.c, h: w.h, lo: w.lo });
  const events = page.map((r, k): TaskEvent => ({
    taskId: r.task_id,
    parentTaskId: r.parent_task_id,
    action: r.action,
    status: r.status,
    kind: r.kind,
    at: toDate(r.at),
    cursor: !more && k === page.length - 1 ? next : prefix + r.id,
  }));
  const cursor = more ? events[events.length - 1].cursor : next;
  return { events, cursor };
}

/**
 * The cursor of "now": a watch that starts from it sees every event of a
 * transaction not yet committed when it was taken, and none before.
 *
 * @param db A pool or transaction.
 * @returns The cursor text.
 */
export async function currentTaskEventsCursor(db: Db): Promise<string> {
  const [row] = await query(db, CURRENT_CURSOR, [1]);
  return closedCursorText({ p: row.p, s: row.s });
}

/**
 * Deletes the events older than `cutoff`, and with them every event of a
 * transaction no newer than the last one pruned, so that the log is whole
 * above its pruned-through point; the point advances in the same statement.
 * Only transactions that had all ended when the prune began are pruned. A
 * reader whose cursor had not seen all that was pruned is then refused
 * (`StateError` code `cursor_expired`) instead of resuming past the gap.
 *
 * @param db A pool or transaction.
 * @param cutoff Events written before this are deleted.
 * @returns How many events were deleted.
 * @throws {ValidationError} `cutoff` is not a date PostgreSQL can store.
 *
 * @example Usage
 * ```ts ignore
 * const dayAgo = new Date(Date.now() - 86_400_000);
 * console.log(await pruneTaskEvents(sql, dayAgo), "events pruned");
 * ```
 */
export async function pruneTaskEvents(db: Db, cutoff: Date): Promise<number> {
  const { cutoff: before } = parse(cutoffArg, { cutoff });
  // xid8 has no max() before PostgreSQL 15: take it as numeric.
  const [{ n }] = await query(
    db,
    `WITH cut AS MATERIALIZED (
       SELECT max(xid::text::numeric)::text::xid8 AS x FROM task_events
       WHERE at < $1::timestamptz AND xid < pg_snapshot_xmin(pg_current_snapshot())
     ), gone AS (
       DELETE FROM task_events WHERE xid <= (SELECT x FROM cut) RETURNING 1
     ), mark AS (
       UPDATE task_events_pruned SET through = (SELECT x FROM cut)
       WHERE (SELECT x FROM cut) IS NOT NULL
         AND (through IS NULL OR through < (SELECT x FROM cut))
     )
     SELECT count(*)::int AS n FROM gone`,
    [before],
  );
  return n;
}

/**
 * Deletes every event of the given tasks (for code that deletes the tasks
 * themselves, as `deleteTasksOlderThan` does), through the task index. This
 * does not expire cursors: the tasks are gone, so are their events.
 *
 * @param db A pool or transaction (pass the one that deletes the tasks).
 * @param taskIds The tasks.
 * @returns How many events were deleted.
 * @throws {ValidationError} An id is not a UUID.
 *
 * @example Usage
 * ```ts ignore
 * await sql.begin(async (tx) => {
 *   await deleteTaskEvents(tx, ids);
 *   await tx`DELETE FROM tasks WHERE id IN ${tx(ids)}`;
 * });
 * ```
 */
export async function deleteTaskEvents(db: Db, taskIds: readonly string[]): Promise<number> {
  const ids = parse(z.array(uuid).max(1_000_000), taskIds);
  if (ids.length === 0) return 0;
  const rows = await query(
    db,
    `DELETE FROM task_events
     WHERE task_id IN (SELECT jsonb_array_elements_text($1::text::jsonb)::uuid)`,
    [JSON.stringify(ids)],
  );
  return rows.count;
}

/**
 * The NOTIFY channel that wakes task-event readers in the connection's
 * schema: `statemgmt_tasks:<schema>`, or `statemgmt_tasks:<md5 of schema>`
 * where that would pass PostgreSQL's 63-byte limit. The payload is empty:
 * the log is the record, the notification only says "read it now".
 *
 * @param db A pool or transaction.
 * @returns The channel name.
 *
 * @example Usage
 * ```ts ignore
 * await sql.listen(await taskEventsChannel(sql), () => readNow());
 * ```
 */
export async function taskEventsChannel(db: Db): Promise<string> {
  // The schema of the `tasks` the writes resolve, as the triggers see it.
  const [row] = await query(
    db,
    `SELECT task_events_channel(n.nspname) AS channel
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = $1::regclass`,
    ["tasks"],
  );
  return row.channel;
}
