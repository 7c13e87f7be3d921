/** Helpers of the task-event tests: ground truth from the table, waiting, reading to the end. */
import type { Db, Sql } from "../src/db.ts";
import { readTaskEvents, type TaskEvent } from "../src/events.ts";
import { createTask } from "../src/tasks.ts";
import { connect } from "./_helpers.ts";

/** One event as the tests compare them: task, kind and status. */
export type EventKey = string;

/** `taskId kind status`: unique per event in these tests (no task repeats a status). */
export const key = (e: Pick<TaskEvent, "taskId" | "kind" | "status">): EventKey =>
  `${e.taskId} ${e.kind} ${e.status}`;

/** Every committed event in the log, in id order, as keys: the ground truth. */
export async function loggedKeys(db: Db): Promise<EventKey[]> {
  const rows = await db`SELECT task_id, kind, status FROM task_events ORDER BY id`;
  return rows.map((r) => key({ taskId: r.task_id, kind: r.kind, status: r.status }));
}

/** Reads from `after` until a read returns nothing; returns the events and the last cursor. */
export async function readToEnd(
  db: Db,
  after?: string,
  limit = 1000,
): Promise<{ events: TaskEvent[]; cursor: string }> {
  const events: TaskEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await readTaskEvents(db, { after: cursor, limit });
    events.push(...page.events);
    cursor = page.cursor;
    if (page.events.length === 0) return { events, cursor };
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` holds, checking every 10 ms; fails after `timeoutMs`. */
export async function until(
  done: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Fails unless every key appears exactly once in `seen` and `seen` holds nothing else. */
export function exactlyOnce(seen: EventKey[], expected: EventKey[]): string | null {
  const counts = new Map<EventKey, number>();
  for (const k of seen) counts.set(k, (counts.get(k) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  const want = new Set(expected);
  const missing = expected.filter((k) => !counts.has(k));
  const extra = [...counts.keys()].filter((k) => !want.has(k));
  if (!twice.length && !missing.length && !extra.length) return null;
  return `seen ${seen.length}, expected ${expected.length}: ${missing.length} missing ` +
    `(${missing.slice(0, 3).join("; ")}), ${twice.length} twice (${
      twice.slice(0, 3).join("; ")
    }), ` +
    `${extra.length} never logged (${extra.slice(0, 3).join("; ")})`;
}

/** Per task, the statuses of its events in the order seen. */
export function statusesByTask(events: TaskEvent[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of events) {
    if (e.kind !== "created" && e.kind !== "status") continue;
    out.set(e.taskId, [...(out.get(e.taskId) ?? []), e.status]);
  }
  return out;
}

/** What `channel` receives (payloads in order) until `stop()`. */
export async function countNotifications(sql: Sql, channel: string): Promise<{
  payloads: string[];
  /** The payloads since the last call, once a marker NOTIFY sent through `db` after them came. */
  since(db: Db): Promise<string[]>;
  stop(): Promise<void>;
}> {
  const payloads: string[] = [];
  const sub = await sql.listen(channel, (payload) => payloads.push(payload));
  let seen = 0;
  return {
    payloads,
    async since(db: Db) {
      const mark = `mark ${crypto.randomUUID()}`;
      await db`SELECT pg_notify(${channel}, ${mark})`;
      await until(() => payloads.includes(mark), 5000, mark);
      const out = payloads.slice(seen, payloads.indexOf(mark));
      seen = payloads.indexOf(mark) + 1;
      return out;
    },
    stop: () => sub.unlisten(),
  };
}

/** Adds `n` events straight into the log; ordered task ids keep it to seconds (random: 12 s per 1M). */
export async function fillEvents(sql: Sql, n: number): Promise<void> {
  await sql`
    INSERT INTO task_events (task_id, action, status, kind)
    SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
           'deploy_node', 'complete', 'status'
    FROM generate_series(1, ${n}) AS i`;
  await sql`ANALYZE task_events`;
}

/** One millisecond after `d`. */
export const justAfter = (d: Date): Date => new Date(d.getTime() + 1);

/** Events as [kind, task, parent, action, status]. */
export const shape = (events: TaskEvent[]): unknown[][] =>
  events.map((e) => [e.kind, e.taskId, e.parentTaskId, e.action, e.status]);

/**
 * `writers` loops on `pool` for `ms`: each transaction creates a queued task,
 * pauses 0–10 ms, claims it (running), sometimes completes an earlier one,
 * pauses again, and rolls back one time in ten. Returns the ids of the
 * tasks whose creation was rolled back.
 */
export async function randomWriters(pool: Sql, writers: number, ms: number): Promise<Set<string>> {
  const rolledBack = new Set<string>();
  const running: string[] = [];
  const end = performance.now() + ms;
  class Rollback extends Error {}
  const writer = async (w: number) => {
    while (performance.now() < end) {
      const id = crypto.randomUUID();
      const finish = running.length > 0 && Math.random() < 0.4 ? running.shift()! : null;
      try {
        await pool.begin(async (tx) => {
          await createTask(tx, { id, action: `w${w}`, status: "queued" });
          await sleep(Math.random() * 10);
          await tx`UPDATE tasks SET status = 'running' WHERE id = ${id}`;
          if (finish) await tx`UPDATE tasks SET status = 'complete' WHERE id = ${finish}`;
          await sleep(Math.random() * 10);
          if (Math.random() < 0.1) throw new Rollback();
        });
        running.push(id);
      } catch (err) {
        if (!(err instanceof Rollback)) throw err;
        rolledBack.add(id);
        if (finish) running.push(finish);
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  return rolledBack;
}

/**
 * A reader that keeps its cursor as text only, as a consumer storing it
 * would: every batch of three reads (limits 1–20) runs on a new pool, ended
 * after it. Runs until `stop()`; `drain()` then reads to the end.
 */
export function resumingReader(schema: string, start: string) {
  const seen: TaskEvent[] = [];
  let cursor = start;
  let reads = 0;
  let stopped = false;
  const batch = async () => {
    const fresh = connect({ schema, max: 1 });
    try {
      for (let r = 0; r < 3; r++) {
        const limit = 1 + Math.floor(Math.random() * 20);
        const page = await readTaskEvents(fresh, { after: cursor, limit });
        seen.push(...page.events);
        cursor = page.cursor;
        reads++;
      }
    } finally {
      await fresh.end();
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await batch();
      await sleep(Math.random() * 15);
    }
  })();
  return {
    reads: () => reads,
    stop: async () => {
      stopped = true;
      await loop;
    },
    async drain(): Promise<TaskEvent[]> {
      await this.stop();
      for (let before = -1; before !== seen.length;) {
        before = seen.length;
        await batch();
      }
      return seen;
    },
  };
}

/** Every node of `query`'s plan (with `plan_cache_mode = mode`) that reads a relation. */
export async function planScans(
  sql: Sql,
  query: string,
  params: unknown[],
  mode: string,
): Promise<string[]> {
  const plans = await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL plan_cache_mode = ${mode}`);
    // deno-lint-ignore no-explicit-any
    return await tx.unsafe(`EXPLAIN (FORMAT JSON) ${query}`, params as any[]);
  });
  const out: string[] = [];
  // deno-lint-ignore no-explicit-any
  const walk = (plan: any) => {
    if (plan["Relation Name"]) out.push(`${plan["Node Type"]} on ${plan["Relation Name"]}`);
    for (const child of plan.Plans ?? []) walk(child);
  };
  walk(plans[0]["QUERY PLAN"][0].Plan);
  return out;
}
