/**
 * The task-event log: an empty poll (`readTaskEvents` after the newest
 * cursor) with 1,000,000 events in the log, against the 1 ms
 * target; and how long a change of status takes to reach a `watchTasks`
 * callback, beside its poll interval — a change to queued (which sends the
 * wake-up), a claim (which does not: the poll finds it), and both without
 * LISTEN (as behind PgBouncer).
 *
 * `scripts/bench.ts` calls {@linkcode benchEvents}; run alone:
 * `deno run --allow-all bench/events.ts [--quick]`.
 */
import { readTaskEvents, type TaskEvent, watchTasks } from "../src/events.ts";
import { currentTaskEventsCursor } from "../src/events/read.ts";
import type { Sql } from "../src/db.ts";
import { type BenchRow, benchSchema } from "./_harness.ts";
import { percentile, sleep } from "./_peer_stats.ts";

/** The bound on an empty poll with 1M events, p50. */
const EMPTY_POLL_TARGET_MS = 1;

/** Options of {@linkcode benchEvents}. */
export interface BenchEventsOptions {
  /** 100,000 events and fewer samples, for CI (about 10 s in all). */
  quick: boolean;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** p50 (the row's figure), p95, min and max of `samples`. */
function spread(samples: number[]): Record<string, number> {
  return {
    p50: round(percentile(samples, 50)),
    p95: round(percentile(samples, 95)),
    min: round(Math.min(...samples)),
    max: round(Math.max(...samples)),
    samples: samples.length,
  };
}

/** Fills the log set-based: ordered task ids keep the index inserts cheap (random: 12 s per 1M). */
async function fill(sql: Sql, n: number): Promise<void> {
  await sql`
    INSERT INTO task_events (task_id, action, status, kind)
    SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
           'deploy_node', 'complete', 'status'
    FROM generate_series(1, ${n}) AS i`;
  await sql`VACUUM ANALYZE task_events`;
}

async function emptyPoll(sql: Sql, events: number, samples: number): Promise<BenchRow> {
  let cursor = await currentTaskEventsCursor(sql);
  const times: number[] = [];
  // The first reads are planned per call; the plan cache settles on the generic plan after five.
  for (let i = 0; i < samples + 20; i++) {
    const t0 = performance.now();
    cursor = (await readTaskEvents(sql, { after: cursor })).cursor;
    if (i >= 20) times.push(performance.now() - t0);
  }
  const floor: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await sql.unsafe("SELECT $1::int", [i], { prepare: true });
    floor.push(performance.now() - t0);
  }
  const p50 = percentile(times, 50);
  return {
    name: `readTaskEvents empty poll, ${events / 1_000_000}M events in the log (target: 1 ms p50)`,
    opsPerSec: p50,
    baselineOpsPerSec: EMPTY_POLL_TARGET_MS,
    ratio: round(EMPTY_POLL_TARGET_MS / p50),
    unit: "ms",
    extra: { ...spread(times), selectOneP50: round(percentile(floor, 50)) },
  };
}

/**
 * Milliseconds from just before each UPDATE to the callback that receives
 * its event, one change at a time, after a random pause up to the poll
 * interval (so samples fall at every phase of it).
 */
async function latency(
  db: Awaited<ReturnType<typeof benchSchema>>,
  change: { from: string; to: string },
  opts: { listen: boolean; pollMs: number; samples: number },
): Promise<number[]> {
  const writer = db.sql;
  const ids = (await writer`
    INSERT INTO tasks (id, action, status)
    SELECT gen_random_uuid(), 'latency', ${change.from} FROM generate_series(1, ${opts.samples})
    RETURNING id`).map((r) => r.id as string);
  const waiting = new Map<string, () => void>();
  const watch = await watchTasks(db.pool(2), (e: TaskEvent) => {
    if (e.kind === "status" && e.status === change.to) waiting.get(e.taskId)?.();
  }, { listen: opts.listen, pollMs: opts.pollMs, onError: (err) => console.error(err) });
  const out: number[] = [];
  try {
    for (const id of ids) {
      await sleep(Math.random() * opts.pollMs);
      const arrived = new Promise<void>((resolve) => waiting.set(id, resolve));
      const t0 = performance.now();
      await writer`UPDATE tasks SET status = ${change.to} WHERE id = ${id}`;
      await arrived;
      out.push(performance.now() - t0);
      waiting.delete(id);
    }
  } finally {
    await watch.unlisten();
  }
  return out;
}

function latencyRow(name: string, pollMs: number, samples: number[]): BenchRow {
  const p50 = percentile(samples, 50);
  return {
    name,
    opsPerSec: p50,
    baselineOpsPerSec: pollMs,
    ratio: round(pollMs / p50),
    unit: "ms",
    extra: { ...spread(samples), pollMs },
  };
}

/** Runs the event-log benches; see the module doc. */
export async function benchEvents(opts: BenchEventsOptions): Promise<BenchRow[]> {
  const events = opts.quick ? 100_000 : 1_000_000;
  const samples = opts.quick ? 300 : 3000;
  const changes = opts.quick ? 12 : 60;
  const db = await benchSchema(4);
  const rows: BenchRow[] = [];
  try {
    await fill(db.sql, events);
    rows.push(await emptyPoll(db.sql, events, samples));
    const queued = { from: "requested", to: "queued" };
    const claimed = { from: "queued", to: "running" };
    for (const pollMs of [50, 10]) {
      for (const listen of [true, false]) {
        for (const [what, change] of [["→ queued (wakes)", queued], ["claim", claimed]] as const) {
          if (!listen && change === queued && pollMs === 10) continue; // same as the claim row
          const ms = await latency(db, change, { listen, pollMs, samples: changes });
          const how = listen ? "LISTEN" : "listen: false";
          rows.push(
            latencyRow(
              `watchTasks ${what}, ${how}, pollMs ${pollMs}: change → callback`,
              pollMs,
              ms,
            ),
          );
        }
      }
    }
  } finally {
    await db.drop();
  }
  return rows;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  for (const row of await benchEvents({ quick })) console.log(JSON.stringify(row));
}
