/**
 * Build-data benchmark: `insertBuildData` throughput and the latency of
 * `listBuildData({nodeName, latest: true})` over a filled table, each against
 * a baseline of raw postgres.js running the same SQL in the same run.
 *
 * Quick mode (CI): 10,000 rows on 100 nodes, a few hundred calls. Full mode:
 * 100,000 rows on 1,000 nodes, as the scale test in tests/build_data_test.ts.
 */
import type { Sql } from "../src/db.ts";
import { insertBuildData, listBuildData } from "../src/build_data.ts";

export type { BenchRow } from "./_harness.ts";
import type { BenchRow } from "./_harness.ts";

const TASK = "11111111-1111-4111-8111-111111111111";
const GENERATORS = 5;

/**
 * Runs the build-data benchmarks on `sql`, a pool on a migrated, empty
 * schema; empties `build_data` again when done.
 */
export async function benchBuildData(opts: { quick: boolean; sql: Sql }): Promise<BenchRow[]> {
  const { quick, sql } = opts;
  const nodes = quick ? 100 : 1_000;
  const rows = quick ? 10_000 : 100_000;
  const calls = quick ? 300 : 3_000;
  try {
    await fill(sql, rows, nodes);
    const label = `${rows.toLocaleString("en")} rows, ${nodes.toLocaleString("en")} nodes`;
    return [
      await benchLatest(sql, nodes, calls, true, label),
      await benchLatest(sql, nodes, calls, false, label),
      await benchInsert(sql, nodes, calls, label),
    ];
  } finally {
    await sql`TRUNCATE build_data`;
  }
}

/** Fills `build_data` in one statement, then ANALYZEs it as production would be. */
async function fill(sql: Sql, rows: number, nodes: number): Promise<void> {
  await sql`
    INSERT INTO build_data (node_name, task_id, collected_date, generator, data_format, data_element)
    SELECT 'node' || lpad((g % ${nodes})::text, 4, '0'),
           gen_random_uuid(),
           timestamptz '2020-01-01' + g * interval '1 second',
           'gen' || (g / ${nodes}) % ${GENERATORS},
           'text/plain',
           repeat('x', 200)
    FROM generate_series(0, ${rows - 1}) AS g`;
  await sql`ANALYZE build_data`;
}

function nodeName(i: number, nodes: number): string {
  return `node${String(i % nodes).padStart(4, "0")}`;
}

async function benchLatest(
  sql: Sql,
  nodes: number,
  calls: number,
  includeData: boolean,
  label: string,
): Promise<BenchRow> {
  const ours = async (i: number) => {
    const got = await listBuildData(sql, {
      nodeName: nodeName(i, nodes),
      latest: true,
      includeData,
    });
    if (got.length !== GENERATORS) {
      throw new Error(`expected ${GENERATORS} rows, got ${got.length}`);
    }
  };
  const raw = async (i: number) => {
    const node = nodeName(i, nodes);
    const got = includeData
      ? await sql`
        SELECT DISTINCT ON (node_name, generator)
               id, node_name, task_id, collected_date, generator, data_format, data_element
        FROM build_data WHERE node_name = ${node}
        ORDER BY node_name, generator, collected_date DESC, id DESC`
      : await sql`
        SELECT DISTINCT ON (node_name, generator)
               id, node_name, task_id, collected_date, generator, data_format
        FROM build_data WHERE node_name = ${node}
        ORDER BY node_name, generator, collected_date DESC, id DESC`;
    if (got.length !== GENERATORS) {
      throw new Error(`expected ${GENERATORS} rows, got ${got.length}`);
    }
  };
  const r = await compare(ours, raw, calls);
  return row(
    `listBuildData latest by node${includeData ? "" : ", includeData: false"} (${label})`,
    r,
  );
}

async function benchInsert(
  sql: Sql,
  nodes: number,
  calls: number,
  label: string,
): Promise<BenchRow> {
  const element = "x".repeat(200);
  const ours = async (i: number) => {
    await insertBuildData(sql, {
      nodeName: nodeName(i, nodes),
      taskId: TASK,
      generator: "bench",
      dataFormat: "text/plain",
      dataElement: element,
    });
  };
  const raw = async (i: number) => {
    await sql`
      INSERT INTO build_data
        (node_name, task_id, collected_date, generator, data_format, data_element)
      VALUES (${nodeName(i, nodes)}, ${TASK}, coalesce(${null}::timestamptz, clock_timestamp()),
              'bench', 'text/plain', ${element})
      RETURNING id, node_name, task_id, collected_date, generator, data_format`;
  };
  return row(`insertBuildData, one at a time (into ${label})`, await compare(ours, raw, calls));
}

interface Timing {
  opsPerSec: number;
  baselineOpsPerSec: number;
  p50Ms: number;
  p95Ms: number;
  baselineP50Ms: number;
}

/**
 * Times `calls` sequential calls of each, interleaved in blocks so drift
 * (autovacuum, caches) hits both alike, after a warm-up that also gets the
 * statements prepared.
 */
async function compare(
  ours: (i: number) => Promise<void>,
  raw: (i: number) => Promise<void>,
  calls: number,
): Promise<Timing> {
  for (let i = 0; i < 20; i++) {
    await ours(i);
    await raw(i);
  }
  const oursMs: number[] = [];
  const rawMs: number[] = [];
  const block = Math.max(1, Math.floor(calls / 10));
  for (let start = 0; start < calls; start += block) {
    for (let i = start; i < Math.min(calls, start + block); i++) oursMs.push(await timed(ours, i));
    for (let i = start; i < Math.min(calls, start + block); i++) rawMs.push(await timed(raw, i));
  }
  return {
    opsPerSec: 1000 * oursMs.length / sum(oursMs),
    baselineOpsPerSec: 1000 * rawMs.length / sum(rawMs),
    p50Ms: quantile(oursMs, 0.5),
    p95Ms: quantile(oursMs, 0.95),
    baselineP50Ms: quantile(rawMs, 0.5),
  };
}

async function timed(fn: (i: number) => Promise<void>, i: number): Promise<number> {
  const t0 = performance.now();
  await fn(i);
  return performance.now() - t0;
}

function row(name: string, t: Timing): BenchRow {
  const round = (x: number, digits: number) => Number(x.toFixed(digits));
  return {
    name,
    opsPerSec: round(t.opsPerSec, 0),
    baselineOpsPerSec: round(t.baselineOpsPerSec, 0),
    ratio: round(t.opsPerSec / t.baselineOpsPerSec, 2),
    unit: "ops/s",
    extra: {
      p50Ms: round(t.p50Ms, 3),
      p95Ms: round(t.p95Ms, 3),
      baselineP50Ms: round(t.baselineP50Ms, 3),
    },
  };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
