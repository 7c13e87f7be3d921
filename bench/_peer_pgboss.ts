/**
 * pg-boss 12.38 as a benchmark peer: its own schema on the bench server,
 * maintenance and cron off (we run none either), dropped by `close()`.
 */
import postgres from "postgres";
// Pinned inline so deno.json needs no entry for a bench-only peer.
// deno-lint-ignore no-import-prefix
import { PgBoss } from "npm:pg-boss@12.38.0";
import { pickupProbe, sleep } from "./_peer_stats.ts";

/** The queue the throughput benches use: pg-boss defaults (no NOTIFY on send). */
export const QUEUE = "bench";
/** A queue with `notify: true`, woken through LISTEN/NOTIFY, for the pickup latency. */
const NOTIFY_QUEUE = "bench_notify";
/** A polling-only queue, for the pickup latency at the shortest polling interval. */
const POLL_QUEUE = "bench_poll";

export interface PgBossPeer {
  boss: PgBoss;
  schema: string;
  /** Removes every job. */
  clear(): Promise<void>;
  /** Queues `n` jobs with `insert()` in batches of 1,000, then ANALYZE (set-up, not measured). */
  fill(n: number): Promise<void>;
  /** `fetch()` + `complete()` on `workers` loops until the queue is empty or `capMs` passes. */
  drain(workers: number, capMs: number): Promise<{ done: number; ms: number }>;
  /** Milliseconds from `send()` to the `work()` handler, `n` idle samples. */
  pickup(n: number, mode: "notify" | "poll"): Promise<number[]>;
  /** Stops pg-boss and drops its schema. */
  close(): Promise<void>;
}

export async function openPgBoss(base: string): Promise<PgBossPeer> {
  const schema = `bench_pgboss_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const boss = new PgBoss({
    connectionString: base,
    schema,
    max: 10,
    supervise: false,
    schedule: false,
    useListenNotify: true,
  });
  const errors: unknown[] = [];
  boss.on("error", (e) => errors.push(e));
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  let started = false;
  const close = async () => {
    try {
      if (started) await boss.stop({ graceful: false, close: true, timeout: 2000 });
    } finally {
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end({ timeout: 5 });
    }
  };
  try {
    await boss.start();
    started = true;
    await boss.createQueue(QUEUE);
    await boss.createQueue(NOTIFY_QUEUE, { notify: true });
    await boss.createQueue(POLL_QUEUE);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    boss,
    schema,
    async clear() {
      // TRUNCATE, as ours: deleted rows left for autovacuum would slow its fetches.
      await admin.unsafe(`TRUNCATE ${schema}.job`);
    },
    async fill(n) {
      for (let i = 0; i < n; i += 1000) {
        const size = Math.min(1000, n - i);
        await boss.insert(QUEUE, Array.from({ length: size }, (_, j) => ({ data: { i: i + j } })));
      }
      await admin.unsafe(`ANALYZE ${schema}.job`);
    },
    async drain(workers, capMs) {
      let done = 0;
      const start = performance.now();
      const end = start + capMs;
      await Promise.all(Array.from({ length: workers }, async () => {
        while (performance.now() < end) {
          const [job] = await boss.fetch(QUEUE);
          if (!job) return;
          await boss.complete(QUEUE, job.id);
          done++;
        }
      }));
      return { done, ms: performance.now() - start };
    },
    async pickup(n, mode) {
      const queue = mode === "notify" ? NOTIFY_QUEUE : POLL_QUEUE;
      const probe = pickupProbe();
      const id = await boss.work<{ i: number }>(
        queue,
        { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 30 },
        // deno-lint-ignore require-await
        async ([job]) => probe.arrive(job.data.i),
      );
      try {
        await sleep(50); // let the worker start its first (empty) poll
        const jitter = mode === "poll" ? 500 : 20;
        const out = await probe.measure(n, (i) => boss.send(queue, { i }), jitter);
        if (errors.length) throw errors[0];
        return out;
      } finally {
        await boss.offWork(queue, { id, wait: true });
      }
    },
    close,
  };
}
