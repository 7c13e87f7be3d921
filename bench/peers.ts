/**
 * Ours beside pg-boss 12.38 and graphile-worker 0.18, in the same Deno
 * process, on the same server, each in its own schema, doing the same
 * work: enqueue one at a time, enqueue in batches, claim and complete with
 * 8 workers (one at a time, in one statement per task, and batched),
 * WAL written per task, and idle pickup latency. Every status change of
 * ours is recorded in the durable event log while it is measured. Ours and
 * each peer are measured in alternating rounds of the same run; medians.
 * `ratio` is ours / theirs for throughput and theirs / ours for latency, so
 * above 1 always means ours is better.
 */
import {
  claimNextTask,
  claimTasks,
  completeAndClaimNext,
  createTask,
  createTasks,
  type Task,
  updateTask,
  updateTasks,
  watchTasks,
} from "../mod.ts";
import type { Sql } from "../src/db.ts";
import {
  type BenchConfig,
  type BenchRow,
  type BenchSchema,
  benchSchema,
  benchUrl,
  compare,
  config,
  median,
} from "./_harness.ts";
import { type GraphilePeer, openGraphile, TASK } from "./_peer_graphile.ts";
import { openPgBoss, type PgBossPeer, QUEUE } from "./_peer_pgboss.ts";
import { latencyRow, pickupProbe } from "./_peer_stats.ts";

const ACTION = "bench";
const BATCH = 1000;
const WORKERS = 8;
// As many as graphile-worker's tuned local queue holds, so the batched rows compare like with like.
const CLAIM_BATCH = 500;
const DONE = { status: "complete", result: { status: "success" } } as const;

interface Peers {
  db: BenchSchema;
  boss: PgBossPeer;
  gw: GraphilePeer;
  quick: boolean;
}

/** Runs every peer comparison; see the module doc. */
export async function benchPeers(opts: { quick: boolean }): Promise<BenchRow[]> {
  const cfg = config(opts.quick);
  const db = await benchSchema(10);
  try {
    const boss = await openPgBoss(benchUrl());
    try {
      const gw = await openGraphile(benchUrl());
      try {
        const p: Peers = { db, boss, gw, quick: opts.quick };
        return [
          ...await enqueueOne(cfg, p),
          ...await enqueueBatch(cfg, p),
          ...await claimComplete(p),
          ...await pickup(p),
        ];
      } finally {
        await gw.close();
      }
    } finally {
      await boss.close();
    }
  } finally {
    await db.drop();
  }
}

/** Empties every queue, so table sizes stay alike from round to round. */
async function clearAll(p: Peers): Promise<void> {
  await p.db.sql`TRUNCATE tasks CASCADE`;
  await p.boss.clear();
  await p.gw.clear();
}

async function enqueueOne(cfg: BenchConfig, p: Peers): Promise<BenchRow[]> {
  const { sql } = p.db;
  const ours = (_w: number, i: number) =>
    createTask(sql, { action: ACTION, status: "queued", requestContext: { i } });
  const before = () => clearAll(p);
  const name = "enqueue one at a time";
  return [
    await compare(
      cfg,
      `${name} vs raw postgres.js INSERT … RETURNING *`,
      ours,
      (_w, i) =>
        sql`INSERT INTO tasks (id, action, status, request_context)
          VALUES (${crypto.randomUUID()}, ${ACTION}, 'queued', ${JSON.stringify({ i })}::jsonb)
          RETURNING *`,
      { before },
    ),
    await compare(
      cfg,
      `${name} vs pg-boss send()`,
      ours,
      (_w, i) => p.boss.boss.send(QUEUE, { i }),
      { before },
    ),
    await compare(
      cfg,
      `${name} vs graphile-worker addJob()`,
      ours,
      (_w, i) => p.gw.utils.addJob(TASK, { i }),
      { before },
    ),
  ];
}

async function enqueueBatch(cfg: BenchConfig, p: Peers): Promise<BenchRow[]> {
  const { sql } = p.db;
  const ids = Array.from({ length: BATCH }, (_, i) => i);
  const ours = () =>
    createTasks(sql, ids.map((i) => ({ action: ACTION, status: "queued", requestContext: { i } })));
  const before = () => clearAll(p);
  const perTask = (row: BenchRow): BenchRow => ({
    ...row,
    opsPerSec: row.opsPerSec * BATCH,
    baselineOpsPerSec: row.baselineOpsPerSec * BATCH,
    unit: "tasks/s",
  });
  const name = `batch enqueue (${BATCH} per call)`;
  return [
    perTask(
      await compare(
        cfg,
        `${name}: createTasks vs pg-boss insert()`,
        ours,
        () => p.boss.boss.insert(QUEUE, ids.map((i) => ({ data: { i } }))),
        { before },
      ),
    ),
    perTask(
      await compare(
        cfg,
        `${name}: createTasks vs graphile-worker addJobs()`,
        ours,
        () => p.gw.utils.addJobs(ids.map((i) => ({ identifier: TASK, payload: { i } }))),
        { before },
      ),
    ),
  ];
}

/** Queues `n` tasks of ours, set-based (set-up, not measured). */
async function fillOurs(sql: Sql, n: number): Promise<void> {
  await sql`TRUNCATE tasks CASCADE`;
  await sql`
    INSERT INTO tasks (id, action, status, request_context, created)
    SELECT gen_random_uuid(), ${ACTION}, 'queued', jsonb_build_object('i', i),
           clock_timestamp() + i * interval '1 microsecond'
    FROM generate_series(1, ${n}) AS i`;
  await sql`ANALYZE tasks`;
}

/** `loop` on `WORKERS` concurrent loops until each says the queue is empty, or `capMs` passes. */
async function drainOurs(
  pools: Sql[],
  capMs: number,
  loop: (pool: Sql, w: number) => Promise<number>,
): Promise<{ done: number; ms: number }> {
  let done = 0;
  const start = performance.now();
  const end = start + capMs;
  await Promise.all(pools.map(async (pool, w) => {
    while (performance.now() < end) {
      const n = await loop(pool, w);
      if (n === 0) return;
      done += n;
    }
  }));
  return { done, ms: performance.now() - start };
}

/**
 * One at a time: claimNextTask, then complete it with updateTasks([id]),
 * which returns a count, as pg-boss's complete() and graphile-worker's
 * completion return nothing.
 */
async function claimOne(pool: Sql, w: number): Promise<number> {
  const task = await claimNextTask(pool, { claimedBy: `w${w}` });
  if (!task) return 0;
  await updateTasks(pool, [task.id], DONE);
  return 1;
}

/** Diagnostic: completed with updateTask, which reads the record back. */
async function claimOneReadBack(pool: Sql, w: number): Promise<number> {
  const task = await claimNextTask(pool, { claimedBy: `w${w}` });
  if (!task) return 0;
  await updateTask(pool, task.id, DONE);
  return 1;
}

/**
 * One statement per task: completeAndClaimNext finishes the task a worker
 * holds and claims its next. It returns the claims made, so a worker stops
 * once its last completion claimed nothing; every claimed task is completed.
 */
function oneStatementLoop(): (pool: Sql, w: number) => Promise<number> {
  const held = new Map<number, string>();
  return async (pool, w) => {
    const prev = held.get(w);
    const claimedBy = `w${w}`;
    const next = prev
      ? await completeAndClaimNext(pool, prev, DONE, { claimedBy })
      : await claimNextTask(pool, { claimedBy });
    held.delete(w);
    if (!next) return 0;
    held.set(w, next.id);
    return 1;
  };
}

/** Bytes of WAL the server wrote while `run` ran (other sessions' writes included). */
async function walBytes<T>(sql: Sql, run: () => Promise<T>): Promise<[T, number]> {
  const [a] = await sql`SELECT pg_current_wal_lsn() AS lsn`;
  const result = await run();
  const [{ bytes }] = await sql`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${a.lsn}) AS bytes`;
  return [result, Number(bytes)];
}

/** Batched: claimTasks, then every completion in one transaction (pipelined). */
async function claimBatch(pool: Sql, w: number): Promise<number> {
  const tasks = await claimTasks(pool, { limit: CLAIM_BATCH, claimedBy: `w${w}` });
  if (tasks.length === 0) return 0;
  await updateTasks(pool, tasks.map((t: Task) => t.id), DONE);
  return tasks.length;
}

/**
 * Diagnostic only: claimTasks, then the whole batch completed by one
 * hand-written UPDATE — the floor under updateTasks.
 */
async function claimBatchOneUpdate(pool: Sql, w: number): Promise<number> {
  const tasks = await claimTasks(pool, { limit: CLAIM_BATCH, claimedBy: `w${w}` });
  if (tasks.length === 0) return 0;
  await pool`
    UPDATE tasks SET status = 'complete', result_status = 'success',
                     updated = clock_timestamp(), version = version + 1
    WHERE id IN ${pool(tasks.map((t) => t.id))}`;
  return tasks.length;
}

async function claimComplete(p: Peers): Promise<BenchRow[]> {
  const n = p.quick ? 300 : 5000;
  // Batched paths run an order of magnitude faster: give them more tasks to time.
  const nBatch = p.quick ? 1000 : 20_000;
  const capMs = p.quick ? 3000 : 12_000;
  const rounds = p.quick ? 1 : 3;
  const pools = Array.from({ length: WORKERS }, () => p.db.pool(1));
  const rate = (r: { done: number; ms: number }) => r.done / (r.ms / 1000);
  const wal = { ours: [] as number[], gwDefault: [] as number[] };
  const runs = {
    ours: async () => {
      await fillOurs(p.db.sql, n);
      const [r, bytes] = await walBytes(p.db.sql, () => drainOurs(pools, capMs, claimOne));
      wal.ours.push(bytes / r.done);
      return rate(r);
    },
    oursOneStatement: async () => {
      await fillOurs(p.db.sql, n);
      return rate(await drainOurs(pools, capMs, oneStatementLoop()));
    },
    oursBatched: async () => {
      await fillOurs(p.db.sql, nBatch);
      return rate(await drainOurs(pools, capMs, claimBatch));
    },
    // Diagnostics, reported in `extra`: the claim loop completing with
    // updateTask (record read back), and one statement per batch.
    oursReadBack: async () => {
      await fillOurs(p.db.sql, n);
      return rate(await drainOurs(pools, capMs, claimOneReadBack));
    },
    oursBatchedOneUpdate: async () => {
      await fillOurs(p.db.sql, nBatch);
      return rate(await drainOurs(pools, capMs, claimBatchOneUpdate));
    },
    pgboss: async () => {
      await p.boss.clear();
      await p.boss.fill(n);
      return rate(await p.boss.drain(WORKERS, capMs));
    },
    gwDefault: async () => {
      await p.gw.clear();
      await p.gw.fill(n);
      const [r, bytes] = await walBytes(
        p.db.sql,
        () => p.gw.drain(n, { concurrency: WORKERS, tuned: false, capMs }),
      );
      wal.gwDefault.push(bytes / r.done);
      return rate(r);
    },
    gwTuned: async () => {
      await p.gw.clear();
      await p.gw.fill(nBatch);
      return rate(await p.gw.drain(nBatch, { concurrency: WORKERS, tuned: true, capMs }));
    },
  };
  // Warm every path once (connections, prepared statements, JIT), then alternate.
  const order = Object.keys(runs) as (keyof typeof runs)[];
  const got = Object.fromEntries(order.map((k) => [k, [] as number[]])) as Record<
    keyof typeof runs,
    number[]
  >;
  for (const k of order) await runs[k]();
  for (let r = 0; r < rounds; r++) {
    for (const k of order) got[k].push(await runs[k]());
  }
  await clearAll(p);
  const row = (
    name: string,
    ours: number[],
    theirs: number[],
    diagnostic: Record<string, number>,
  ): BenchRow => {
    const a = median(ours);
    const b = median(theirs);
    return {
      name,
      opsPerSec: a,
      baselineOpsPerSec: b,
      ratio: a / b,
      unit: "tasks/s",
      extra: {
        oursMin: Math.min(...ours),
        oursMax: Math.max(...ours),
        theirMin: Math.min(...theirs),
        theirMax: Math.max(...theirs),
        ...diagnostic,
      },
    };
  };
  const name = `claim+complete, ${WORKERS} workers`;
  const diagnostics = {
    tasks: n,
    oursCompletingWithUpdateTask: median(got.oursReadBack),
    oursWalBytesPerTask: median(wal.ours),
    graphileWalBytesPerTask: median(wal.gwDefault),
  };
  return [
    row(
      `${name}: claimNextTask+updateTasks([id]) vs pg-boss fetch()+complete()`,
      got.ours,
      got.pgboss,
      diagnostics,
    ),
    row(
      `${name}: claimNextTask+updateTasks([id]) vs graphile-worker run()`,
      got.ours,
      got.gwDefault,
      diagnostics,
    ),
    row(
      `${name}: completeAndClaimNext vs graphile-worker run()`,
      got.oursOneStatement,
      got.gwDefault,
      { tasks: n },
    ),
    row(
      `${name}, batched: claimTasks(${CLAIM_BATCH})+updateTasks vs graphile-worker` +
        ` localQueue 500, completeJobBatchDelay 0`,
      got.oursBatched,
      got.gwTuned,
      { tasks: nBatch, oursWithOneUpdatePerBatch: median(got.oursBatchedOneUpdate) },
    ),
  ];
}

async function pickup(p: Peers): Promise<BenchRow[]> {
  const samples = p.quick ? 6 : 60;
  const chunk = p.quick ? 3 : 15;
  const probe = pickupProbe();
  const index = new Map<string, number>();
  const watch = await watchTasks(p.db.sql, (e) => {
    const i = index.get(e.taskId);
    if (i !== undefined && e.status === "queued") probe.arrive(i);
  });
  // One sample is in flight at a time, so the sample's number identifies it.
  const ours = (count: number) =>
    probe.measure(count, (i) => {
      const id = crypto.randomUUID();
      index.set(id, i);
      return createTask(p.db.sql, { id, action: ACTION, status: "queued" });
    });
  const peers: [string, (count: number) => Promise<number[]>][] = [
    ["pg-boss work() with LISTEN/NOTIFY (queue notify: true)", (c) => p.boss.pickup(c, "notify")],
    ["pg-boss work() polling every 0.5 s (its minimum)", (c) => p.boss.pickup(c, "poll")],
    ["graphile-worker run() (LISTEN/NOTIFY)", (c) => p.gw.pickup(c)],
  ];
  const rows: BenchRow[] = [];
  try {
    for (const [peer, measure] of peers) {
      const a: number[] = [];
      const b: number[] = [];
      for (let done = 0; done < samples; done += chunk) {
        a.push(...await ours(chunk));
        b.push(...await measure(chunk));
      }
      rows.push(
        latencyRow(`idle pickup p50, watchTasks vs ${peer} (ratio = theirs/ours)`, a, b),
      );
    }
  } finally {
    await watch.unlisten();
  }
  return rows;
}
