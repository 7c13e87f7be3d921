/**
 * `watchTasks`: the task-event log delivered to a callback, read on a
 * LISTEN wake-up and on a poll.
 *
 * @module
 */
import { z } from "zod";
import { assertSql, type Sql } from "../db.ts";
import { StateError } from "../errors.ts";
import { Code } from "../_codes.ts";
import { parse } from "../_validation.ts";
import {
  currentTaskEventsCursor,
  readTaskEvents,
  type TaskEvent,
  type TaskEventPage,
  taskEventsChannel,
} from "./read.ts";

/**
 * How often a watch reads the log when nothing wakes it. Measured with
 * 1,000,000 events in the log: an empty read is 0.20 ms p50 (0.13 ms of it
 * executing on the server), and a change reaches the callback, p50/p95, in
 * 4/9 ms when it sends the wake-up (→ queued, a termination request),
 * otherwise (a claim, a completion) in 22–32/50–70 ms at 50 ms and 7/13–15
 * ms at 10 ms. 50 ms, because the cost is per watch and this module opens
 * one per waiter (waitForTask, terminationSignal, each SSE stream): 20
 * reads a second each, where 10 ms would be 100; what workers react to is
 * woken at once anyway. Pass a smaller `pollMs` where a claim or a
 * completion must be seen sooner.
 */
const DEFAULT_POLL_MS = 50;

/** Options of {@linkcode watchTasks}. */
export interface WatchTasksOptions {
  /**
   * A cursor from an earlier read or event: the watch delivers exactly the
   * events after it.
   * @default the moment of subscribing
   */
  after?: string;
  /**
   * Read the log this often (ms) besides every wake-up.
   * @default 50
   */
  pollMs?: number;
  /** Aborting it stops the watch, as `unlisten()` does. */
  signal?: AbortSignal;
  /**
   * LISTEN for wake-ups. Turn it off behind PgBouncer's transaction pooling,
   * where a LISTEN receives nothing; the poll alone then delivers everything.
   * @default true
   */
  listen?: boolean;
  /**
   * Events read at most per statement (1 to 10,000).
   * @default 1000
   */
  limit?: number;
  /**
   * Called with each error the watch meets while running: a failed read
   * (the cursor is kept and the read retried at the next poll, so nothing
   * is lost or repeated), an error thrown by `onEvent`, or an expired
   * cursor (which stops the watch).
   * @default logs it with `console.error`
   */
  onError?: (error: unknown) => void;
}

/** A running subscription of {@linkcode watchTasks}. */
export interface TaskWatch {
  /** The cursor after the last event delivered: store it to resume later. */
  readonly cursor: string;
  /** Stops the watch; resolves once the read or callback in progress has ended. */
  unlisten(): Promise<void>;
}

const watchOptions = z.strictObject({
  after: z.string().optional(),
  pollMs: z.number().int().min(1).max(3_600_000).default(DEFAULT_POLL_MS),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal).optional(),
  listen: z.boolean().default(true),
  limit: z.number().int().min(1).max(10_000).default(1000),
  onError: z.custom<(error: unknown) => void>((v) => typeof v === "function").optional(),
});

/**
 * Delivers the task events of the durable log to `onEvent`, in order and
 * one at a time (awaiting what it returns, when that is a promise): new tasks,
 * changes of status, termination requests, result roll-ups. It reads the
 * log on a LISTEN wake-up (sent when a task is queued or its termination
 * requested) and every `pollMs`, so events are neither lost nor repeated
 * across reconnects, server restarts and out-of-order commits; a read that
 * fails is retried from the same cursor. When `onEvent` throws, the error
 * goes to `onError` and the same event is delivered again at the next
 * poll: catch inside `onEvent` to skip one. The watch holds one connection
 * for LISTEN (unless `listen` is false) and takes a pool connection per read.
 * After an outage, reads resume as soon as the pool reconnects, which
 * postgres.js backs off up to 20 s by default (its `backoff` option); while
 * the server is unreachable a read either fails (and is retried at the next
 * poll) or waits for the pool's connection.
 *
 * @param sql A pool (not a transaction).
 * @param onEvent Called with each event.
 * @param opts Where to start, how often to poll, how to stop and report.
 * @returns The running watch.
 * @throws {TypeError} `sql` is not a postgres.js pool.
 * @throws {ValidationError} An option is invalid or `after` is not a cursor.
 * @throws {StateError} Code `cursor_expired`: `after` points before pruned events.
 *
 * @example Usage
 * ```ts ignore
 * const watch = await watchTasks(sql, async (e) => {
 *   if (e.kind === "status" && e.status === "complete") await notifyOwner(e.taskId);
 * }, { after: await loadCursor() });
 * // … later: remember where to resume
 * await saveCursor(watch.cursor);
 * await watch.unlisten();
 * ```
 */
export async function watchTasks(
  sql: Sql,
  onEvent: (event: TaskEvent) => unknown,
  opts: WatchTasksOptions = {},
): Promise<TaskWatch> {
  assertSql(sql, "watchTasks");
  const o = parse(watchOptions, opts);
  o.signal?.throwIfAborted();
  const w: Loop = {
    sql,
    onEvent,
    limit: o.limit,
    pollMs: o.pollMs,
    onError: o.onError ?? ((err: unknown) => console.error("watchTasks:", err)),
    cursor: "",
    pending: null,
    stopped: false,
    timer: undefined,
    running: null,
    again: false,
    closing: null,
    cleanups: [],
  };
  if (o.after === undefined) {
    w.cursor = await currentTaskEventsCursor(sql);
  } else {
    // The first page is read now: an expired cursor fails this call, not a poll.
    w.pending = await readTaskEvents(sql, { after: o.after, limit: o.limit });
    w.cursor = o.after;
  }
  if (o.listen) {
    // postgres.js LISTENs again on a new connection after losing one, then
    // calls the third argument: read at once, wake-ups may have been missed.
    const wake = () => read(w);
    try {
      const sub = await sql.listen(await taskEventsChannel(sql), wake, wake);
      w.cleanups.push(() => sub.unlisten());
    } catch (err) {
      // E.g. a server still in recovery (25006). The poll alone delivers
      // every event, only later; and postgres.js 3.4.9 keeps a failed
      // LISTEN's promise for the channel, so retrying on this pool would
      // fail the same way (seen through a Patroni failover: 97 times).
      w.onError(err);
    }
  }
  const signal = o.signal;
  if (signal) {
    const onAbort = () => void stop(w);
    signal.addEventListener("abort", onAbort, { once: true });
    w.cleanups.push(() => Promise.resolve(signal.removeEventListener("abort", onAbort)));
    if (signal.aborted) onAbort(); // aborted while subscribing
  }
  read(w);
  return {
    get cursor() {
      return w.cursor;
    },
    unlisten: () => stop(w),
  };
}

/** The state of one watch. */
interface Loop {
  sql: Sql;
  onEvent: (event: TaskEvent) => unknown;
  limit: number;
  pollMs: number;
  onError: (error: unknown) => void;
  /** After the last event delivered. */
  cursor: string;
  /** A page read before the loop started, delivered first. */
  pending: TaskEventPage | null;
  stopped: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The read and delivery in progress. */
  running: Promise<void> | null;
  /** A wake-up came during a read: read once more right after it. */
  again: boolean;
  closing: Promise<void> | null;
  cleanups: (() => Promise<void>)[];
}

/** Reads and delivers, page after page, until one comes back short. */
async function drain(w: Loop): Promise<void> {
  try {
    for (;;) {
      const page = w.pending ?? await readTaskEvents(w.sql, { after: w.cursor, limit: w.limit });
      w.pending = null;
      for (const event of page.events) {
        if (w.stopped) return;
        try {
          await w.onEvent(event);
        } catch (err) {
          w.onError(err); // delivered again, from `w.cursor`, at the next poll
          return;
        }
        w.cursor = event.cursor;
      }
      if (w.stopped) return;
      w.cursor = page.cursor;
      if (page.events.length < w.limit) return;
    }
  } catch (err) {
    w.onError(err); // the cursor is kept: the next poll reads the same events
    if (err instanceof StateError && err.code === Code.CursorExpired) void stop(w);
  }
}

/** Reads now (or right after the read in progress), then again in `pollMs`. */
function read(w: Loop): void {
  if (w.stopped) return;
  if (w.running) {
    w.again = true;
    return;
  }
  clearTimeout(w.timer);
  w.timer = undefined;
  w.running = drain(w).finally(() => {
    w.running = null;
    if (w.stopped) return;
    if (w.again) {
      w.again = false;
      read(w);
    } else {
      w.timer = setTimeout(() => read(w), w.pollMs);
    }
  });
}

/** Stops timers and the LISTEN; resolves once the read in progress has ended. */
function stop(w: Loop): Promise<void> {
  if (w.closing) return w.closing;
  w.stopped = true;
  clearTimeout(w.timer);
  w.timer = undefined;
  w.closing = (async () => {
    for (const cleanup of w.cleanups) {
      try {
        await cleanup();
      } catch (err) {
        w.onError(err);
      }
    }
    await w.running;
  })();
  return w.closing;
}
