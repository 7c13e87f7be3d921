/** Shared pieces of `deno task bench`: timing, rows, schemas. */
import postgres from "postgres";
import type { Sql } from "../src/db.ts";
import { migrate } from "../src/migrate.ts";

/** One line of the benchmark table (and of `--json`). */
export interface BenchRow {
  name: string;
  opsPerSec: number;
  baselineOpsPerSec: number;
  /** ours / baseline: above 1 is better than the baseline. */
  ratio: number;
  unit?: string;
  extra?: Record<string, number>;
}

/** How long and how often to measure. */
export interface BenchConfig {
  quick: boolean;
  /** Milliseconds per measurement. */
  ms: number;
  /** Alternating rounds of (ours, baseline); the median is reported. */
  rounds: number;
}

export function config(quick: boolean): BenchConfig {
  return quick ? { quick, ms: 150, rounds: 1 } : { quick, ms: 1000, rounds: 5 };
}

/** Runs `op` on `workers` concurrent loops for `ms`; returns operations per second. */
export async function opsPerSec(
  ms: number,
  op: (worker: number, i: number) => Promise<unknown>,
  workers = 1,
): Promise<number> {
  let count = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      await op(w, i);
      count++;
    }
  }));
  return count / ((performance.now() - start) / 1000);
}

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Measures ours against a baseline in short alternating slices (100 ms
 * each, `rounds × ms` per side in all), so drift and the machine's other
 * load hit both alike; reports the throughput of each over all its slices.
 */
export async function compare(
  cfg: BenchConfig,
  name: string,
  ours: (w: number, i: number) => Promise<unknown>,
  baseline: (w: number, i: number) => Promise<unknown>,
  opts: { workers?: number; before?: () => Promise<void> } = {},
): Promise<BenchRow> {
  const slice = Math.min(100, cfg.ms);
  const slices = Math.max(1, Math.round((cfg.rounds * cfg.ms) / slice));
  // Warm both paths (prepared statements, JIT) before measuring.
  for (const fn of [ours, baseline]) {
    await opts.before?.();
    await opsPerSec(Math.min(200, cfg.ms), fn, opts.workers);
  }
  const total = { ours: 0, baseline: 0 };
  for (let i = 0; i < slices; i++) {
    // `before` (e.g. refilling a queue) runs between slices, outside the timing.
    if (opts.before && i % 5 === 0) await opts.before();
    // Alternate which goes first: the second of a pair meets the first's dead rows.
    if (i % 2 === 0) {
      total.ours += await opsPerSec(slice, ours, opts.workers);
      total.baseline += await opsPerSec(slice, baseline, opts.workers);
    } else {
      total.baseline += await opsPerSec(slice, baseline, opts.workers);
      total.ours += await opsPerSec(slice, ours, opts.workers);
    }
  }
  const ops = total.ours / slices;
  const base = total.baseline / slices;
  return { name, opsPerSec: ops, baselineOpsPerSec: base, ratio: ops / base };
}

/** The bench server: `DATABASE_URL`, else the local one. */
export function benchUrl(): string {
  return Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";
}

/** A fresh, migrated schema on the bench server. */
export interface BenchSchema {
  sql: Sql;
  url: string;
  schema: string;
  /** Another pool on the schema, ended by `drop()`. */
  pool(max?: number): Sql;
  /** Ends every pool and drops the schema. */
  drop(): Promise<void>;
}

export async function benchSchema(max = 10): Promise<BenchSchema> {
  const base = benchUrl();
  const schema = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const url = new URL(base);
  url.searchParams.set("search_path", schema);
  const pools: Sql[] = [];
  const pool = (m = max) => {
    const p = postgres(url.toString(), { max: m, onnotice: () => {} });
    pools.push(p);
    return p;
  };
  const sql = pool(max);
  await migrate(sql);
  return {
    sql,
    url: url.toString(),
    schema,
    pool,
    async drop() {
      await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}
