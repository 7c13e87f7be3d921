/**
 * graphile-worker 0.18 as a benchmark peer: its own schema on the bench
 * server, a silent logger, no-op task handlers; dropped by `close()`.
 */
import postgres from "postgres";
// Pinned inline so deno.json needs no entry for a bench-only peer.
// deno-lint-ignore no-import-prefix
import * as graphile from "npm:graphile-worker@0.18.0";
import { pickupProbe, sleep, waitFor } from "./_peer_stats.ts";

/** The task identifier every benchmark job uses. */
export const TASK = "bench";

/**
 * The batching settings graphile-worker's performance page publishes with
 * its headline figures: a local queue of 500 and completions batched
 * (`completeJobBatchDelay: 0`).
 */
export const TUNED = { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 };

export interface GraphilePeer {
  utils: graphile.WorkerUtils;
  schema: string;
  /** Removes every job. */
  clear(): Promise<void>;
  /** Queues `n` jobs with `addJobs()` in batches of 1,000, then ANALYZE (set-up, not measured). */
  fill(n: number): Promise<void>;
  /**
   * Runs a worker pool (`run()`) over the queued jobs until `n` are done
   * (handled and completed) or `capMs` passes. Timed from the first handler
   * call, so the pool's start-up is not counted against it.
   */
  drain(
    n: number,
    opts: { concurrency: number; tuned: boolean; capMs: number },
  ): Promise<{ done: number; ms: number }>;
  /** Milliseconds from `addJob()` to the handler starting, `n` idle samples. */
  pickup(n: number): Promise<number[]>;
  /** Releases the utils and drops the schema. */
  close(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const logger = new graphile.Logger(() => (level: any, message: string) => {
  if (level === "error") console.error(`graphile-worker: ${message}`);
});

export async function openGraphile(base: string): Promise<GraphilePeer> {
  const schema = `bench_gw_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  let utils: graphile.WorkerUtils | undefined;
  const close = async () => {
    try {
      await utils?.release();
    } finally {
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end({ timeout: 5 });
    }
  };
  try {
    utils = await graphile.makeWorkerUtils({ connectionString: base, schema, logger });
    await utils.migrate();
  } catch (err) {
    await close();
    throw err;
  }
  const u = utils;
  const options = (
    concurrency: number,
    taskList: graphile.RunnerOptions["taskList"],
  ): graphile.RunnerOptions => ({
    connectionString: base,
    schema,
    concurrency,
    noHandleSignals: true,
    logger,
    taskList,
  });
  const remaining = async () =>
    Number((await admin.unsafe(`SELECT count(*) AS n FROM ${schema}._private_jobs`))[0].n);

  return {
    utils: u,
    schema,
    async clear() {
      // TRUNCATE, as ours: deleted rows left for autovacuum would slow its job lookups.
      await admin.unsafe(`TRUNCATE ${schema}._private_jobs`);
    },
    async fill(n) {
      for (let i = 0; i < n; i += 1000) {
        const size = Math.min(1000, n - i);
        await u.addJobs(
          Array.from({ length: size }, (_, j) => ({ identifier: TASK, payload: { i: i + j } })),
        );
      }
      await admin.unsafe(`ANALYZE ${schema}._private_jobs`);
    },
    async drain(n, { concurrency, tuned, capMs }) {
      let handled = 0;
      let first = 0;
      const runner = await graphile.run({
        ...options(concurrency, {
          // deno-lint-ignore require-await
          [TASK]: async () => {
            if (handled++ === 0) first = performance.now();
          },
        }),
        ...(tuned ? { preset: { worker: TUNED } } : {}),
      });
      try {
        const end = performance.now() + capMs;
        await waitFor(() => handled >= n || performance.now() >= end, capMs + 1000, 2);
        // Handled is not done: wait until the completions are written too.
        await waitFor(async () => await remaining() === 0 || performance.now() >= end, 1000, 1);
        const ms = performance.now() - first;
        return { done: handled, ms };
      } finally {
        await runner.stop();
      }
    },
    async pickup(n) {
      const probe = pickupProbe();
      const runner = await graphile.run(
        // deno-lint-ignore require-await
        options(1, { [TASK]: async (payload) => probe.arrive((payload as { i: number }).i) }),
      );
      try {
        await sleep(100); // let the pool LISTEN before the first sample
        return await probe.measure(n, (i) => u.addJob(TASK, { i }));
      } finally {
        await runner.stop();
      }
    },
    close,
  };
}
