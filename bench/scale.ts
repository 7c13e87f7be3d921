/**
 * How reads and claims hold up as the tables grow. Tasks are filled
 * set-based (generate_series) to each size, with messages and subtasks;
 * then come the latency (p50, p95) of getTask, claimNextTask, a keyset
 * listTasks page and listSubtasks, whether their plans are index-backed,
 * and how much each grew from the smallest size to the largest. Also:
 * reading 1,000 tasks with 10 messages each against hand-written SQL, and
 * the peak memory of streaming every task with iterateTasks.
 */
import postgres from "postgres";
import { startProxy } from "../tests/fault/_proxy.ts";
import { claimNextTask, getTask, listSubtasks, listTasks } from "../mod.ts";
import type { Sql } from "../src/db.ts";
import { type BenchRow, benchSchema, compare, config } from "./_harness.ts";
import { percentile } from "./_peer_stats.ts";

/** Growth from the smallest size to the largest that the issue accepts. */
const GROWTH_TARGET = 1.5;
/** claimNextTask p50 at the largest size, in ms, that the issue asks for. */
const CLAIM_TARGET_MS = 2;
/** Peak RSS, in MB, that streaming every task must stay under. */
const STREAM_TARGET_MB = 200;

const label = (n: number) =>
  n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n);

/** Runs the scale benches; see the module doc. */
export async function benchScale(
  opts: { quick: boolean; sizes?: number[] },
): Promise<BenchRow[]> {
  const sizes = [...(opts.sizes ?? (opts.quick ? [1_000, 10_000] : [10_000, 100_000, 1_000_000]))]
    .sort((a, b) => a - b);
  const samples = opts.quick ? 30 : 200;
  const rows: BenchRow[] = [];
  const db = await benchSchema(4);
  const plans = planProbe(db.url);
  try {
    const perSize: BenchRow[] = [];
    let filled = 0;
    for (const size of sizes) {
      await fill(db.sql, filled, size);
      filled = size;
      perSize.push(...await measureSize(db.sql, plans, size, samples));
    }
    rows.push(...relativeToFirst(perSize));
    if (sizes.length > 1) rows.push(...growthRows(perSize, sizes));
    rows.push(await streamAll(db.url, filled));
  } finally {
    await plans.end();
    await db.drop();
  }
  rows.push(...await readWithMessages(opts.quick));
  return rows;
}

// ---------------------------------------------------------------- data

/**
 * Adds tasks numbered `from` to `to - 1`. Per 100 tasks (by i % 100): task
 * 0 is a parent with subtasks 1–10; by i % 10, 10% are queued, 2% running,
 * the rest complete; tasks with i % 10 = 0 (parents among them) carry 3
 * messages, every third an error. Ids are md5('t' || i)::uuid: random in
 * the index like real UUIDs, yet computable in SQL. `created` grows with i.
 * The notify trigger is off while filling (a million NOTIFYs is no test of
 * reads), and tables are vacuumed and analysed after.
 */
async function fill(sql: Sql, from: number, to: number): Promise<void> {
  await sql`ALTER TABLE tasks DISABLE TRIGGER USER`;
  try {
    for (let lo = from; lo < to; lo += 250_000) {
      const hi = Math.min(to, lo + 250_000) - 1;
      await sql`
        INSERT INTO tasks (id, parent_task_id, action, status, result_status, created)
        SELECT md5('t' || i)::uuid,
               CASE WHEN i % 100 BETWEEN 1 AND 10 THEN md5('t' || (i - i % 100))::uuid END,
               CASE WHEN i % 100 = 0 THEN 'deploy_nodes'
                    WHEN i % 100 <= 10 THEN 'deploy_node' ELSE 'prepare_site' END,
               CASE WHEN i % 10 = 3 THEN 'queued' WHEN i % 50 = 7 THEN 'running'
                    ELSE 'complete' END,
               CASE WHEN i % 10 IN (3) OR i % 50 = 7 THEN 'incomplete' ELSE 'success' END,
               timestamptz '2024-01-01' + i * interval '1 millisecond'
        FROM generate_series(${lo}::int, ${hi}::int) AS i`;
      await sql`
        INSERT INTO result_messages (task_id, message, error, context, ts)
        SELECT md5('t' || i)::uuid, 'step ' || k || ' of task ' || i, k = 3, 'node' || (i % 97),
               timestamptz '2024-01-01' + i * interval '1 millisecond' + k * interval '1 second'
        FROM generate_series(${lo}::int, ${hi}::int) AS i, generate_series(1, 3) AS k
        WHERE i % 10 = 0
        ORDER BY i, k`;
    }
  } finally {
    await sql`ALTER TABLE tasks ENABLE TRIGGER USER`;
  }
  // Vacuumed as well as analysed, as a table in service is: otherwise
  // autovacuum's first pass over the fresh rows lands in the middle of the
  // timings at 1M.
  await sql`VACUUM (ANALYZE) tasks`;
  await sql`VACUUM (ANALYZE) result_messages`;
}

/** The ids of tasks number `is`, computed by the server as `fill` made them. */
async function idsOf(sql: Sql, is: number[]): Promise<string[]> {
  const rows = await sql`
    SELECT md5('t' || x)::uuid::text AS id
    FROM jsonb_array_elements_text(${JSON.stringify(is)}::text::jsonb) WITH ORDINALITY AS a(x, n)
    ORDER BY n`;
  return rows.map((r) => r.id as string);
}

/** `count` random task numbers below `size` that satisfy `keep`. */
function pick(size: number, count: number, keep: (i: number) => boolean = () => true): number[] {
  const out: number[] = [];
  for (let guard = 0; out.length < count && guard < count * 1000; guard++) {
    const i = Math.floor(Math.random() * size);
    if (keep(i)) out.push(i);
  }
  return out;
}

// ---------------------------------------------------------------- per size

type Op = (db: Sql, k: number) => Promise<unknown>;

async function measureSize(
  sql: Sql,
  plans: PlanProbe,
  size: number,
  samples: number,
): Promise<BenchRow[]> {
  // getTask: any task, messages attached (its default); a tenth have 3 messages.
  const anyIds = await idsOf(sql, pick(size, samples));
  // listTasks: a page of 100 after a task from the middle half.
  const middle = await idsOf(sql, pick(size, samples, (i) => i >= size / 4 && i < size * 3 / 4));
  const parents = await idsOf(sql, pick(size, samples, (i) => i % 100 === 0));
  const ops: [string, Op][] = [
    ["getTask", (db, k) => getTask(db, anyIds[k % anyIds.length])],
    ["claimNextTask", (db, k) => claimNextTask(db, { claimedBy: `bench${k}` })],
    [
      "listTasks page of 100 (keyset after)",
      (db, k) => listTasks(db, { limit: 100, after: middle[k % middle.length] }),
    ],
    ["listSubtasks (10)", (db, k) => listSubtasks(db, parents[k % parents.length])],
  ];
  const rows: BenchRow[] = [];
  for (const [name, op] of ops) {
    for (let k = 0; k < 5; k++) await op(sql, k); // prepare statements, warm the cache
    const ms: number[] = [];
    for (let k = 0; k < samples; k++) {
      const t = performance.now();
      await op(sql, k);
      ms.push(performance.now() - t);
    }
    const plan = await plans.inspect((db) => op(db, 1));
    const p50 = percentile(ms, 50);
    rows.push({
      name: `${name} @${label(size)}`,
      opsPerSec: p50,
      baselineOpsPerSec: p50,
      ratio: 1,
      unit: "ms",
      extra: {
        p50,
        p95: percentile(ms, 95),
        samples,
        serverMs: plan.serverMs,
        indexBacked: plan.seqScans.length ? 0 : 1,
        seqScans: plan.seqScans.length,
      },
    });
  }
  return rows;
}

/**
 * Per-size rows are latencies: the baseline is the same operation's p50 at
 * the smallest size, and ratio = that / this (1 means flat; lower is worse).
 */
function relativeToFirst(rows: BenchRow[]): BenchRow[] {
  const first = new Map<string, number>();
  return rows.map((row) => {
    const op = row.name.split(" @")[0];
    if (!first.has(op)) first.set(op, row.opsPerSec);
    const base = first.get(op)!;
    return { ...row, baselineOpsPerSec: base, ratio: base / row.opsPerSec };
  });
}

function growthRows(rows: BenchRow[], sizes: number[]): BenchRow[] {
  const small = label(sizes[0]);
  const large = label(sizes[sizes.length - 1]);
  const at = (op: string, size: string) => rows.find((r) => r.name === `${op} @${size}`)!;
  const p50 = (op: string, size: string) => at(op, size).opsPerSec;
  const server = (op: string, size: string) => at(op, size).extra!.serverMs;
  const ops = [...new Set(rows.map((r) => r.name.split(" @")[0]))];
  const out: BenchRow[] = ops.map((op) => {
    const growth = p50(op, large) / p50(op, small);
    return {
      name: `${op} growth ${small}→${large} (p50 ratio, target ≤ ${GROWTH_TARGET})`,
      opsPerSec: growth,
      baselineOpsPerSec: GROWTH_TARGET,
      ratio: GROWTH_TARGET / growth,
      unit: "×",
      extra: { serverGrowth: server(op, large) / server(op, small) },
    };
  });
  const claim = p50("claimNextTask", large);
  out.push({
    name: `claimNextTask p50 @${large} (target < ${CLAIM_TARGET_MS} ms; ratio = target/p50)`,
    opsPerSec: claim,
    baselineOpsPerSec: CLAIM_TARGET_MS,
    ratio: CLAIM_TARGET_MS / claim,
    unit: "ms",
  });
  return out;
}

// ---------------------------------------------------------------- plans

type PlanProbe = ReturnType<typeof planProbe>;

/** What {@linkcode planProbe} finds in the statements of one call. */
interface PlanReport {
  /** Seq Scans on tasks or result_messages; none when index-backed. */
  seqScans: string[];
  /** Server time (planning + execution, EXPLAIN ANALYZE), summed over the statements; median of 5. */
  serverMs: number;
}

/**
 * Captures the statements our functions send (postgres.js `debug` hook on
 * a dedicated pool) and EXPLAINs each with its parameters: a plan is
 * index-backed when no node is a Seq Scan on tasks or result_messages.
 * EXPLAIN ANALYZE runs in a transaction that is rolled back, so a claim
 * measured this way claims nothing; its server time is far less noisy
 * than the client's round trip when other work shares the machine.
 */
function planProbe(url: string) {
  let captured: { query: string; params: unknown[] }[] | null = null;
  const pool = postgres(url, {
    max: 1,
    onnotice: () => {},
    debug: (_conn, query, params) => captured?.push({ query, params }),
  });
  const explainer = postgres(url, { max: 1, onnotice: () => {} });
  // deno-lint-ignore no-explicit-any
  const explain = async (options: string, query: string, params: any[]) => {
    let plan: Record<string, unknown> | undefined;
    await explainer.begin(async (tx) => {
      const [row] = await tx.unsafe(`EXPLAIN (${options}, FORMAT JSON) ${query}`, params);
      plan = row["QUERY PLAN"][0];
      throw ROLLBACK;
    }).catch((err) => {
      if (err !== ROLLBACK) throw err;
    });
    return plan!;
  };
  return {
    async inspect(run: (db: Sql) => Promise<unknown>): Promise<PlanReport> {
      captured = [];
      try {
        await run(pool);
      } finally {
        captured = captured ?? [];
      }
      const statements = captured.filter((q) => /\b(tasks|result_messages)\b/.test(q.query));
      captured = null;
      const seqScans: string[] = [];
      const times: number[] = [];
      for (const { query, params } of statements) {
        walkPlan((await explain("COSTS", query, params)).Plan, seqScans);
      }
      for (let k = 0; k < 5; k++) {
        let ms = 0;
        for (const { query, params } of statements) {
          const plan = await explain("ANALYZE", query, params);
          ms += (plan["Planning Time"] as number) + (plan["Execution Time"] as number);
        }
        times.push(ms);
      }
      return { seqScans, serverMs: percentile(times, 50) };
    },
    end: () => Promise.all([pool.end({ timeout: 5 }), explainer.end({ timeout: 5 })]),
  };
}

const ROLLBACK = new Error("rollback");

// deno-lint-ignore no-explicit-any
function walkPlan(node: any, found: string[]): void {
  if (node["Node Type"] === "Seq Scan" && /^(tasks|result_messages)$/.test(node["Relation Name"])) {
    found.push(`Seq Scan on ${node["Relation Name"]}`);
  }
  for (const child of node.Plans ?? []) walkPlan(child, found);
}

// ---------------------------------------------------------------- streaming

/**
 * Streams every task with iterateTasks in a fresh child process (so what
 * this bench process holds does not count) and reports that process's peak
 * RSS (VmHWM).
 */
async function streamAll(url: string, size: number): Promise<BenchRow> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./_stream_child.ts", import.meta.url).pathname],
    env: { DATABASE_URL: url },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the streaming child exited ${out.code}`);
  const { startRss, sampled, peak, count, seconds } = JSON.parse(
    new TextDecoder().decode(out.stdout),
  );
  return {
    name:
      `streaming ${
        label(size)
      } tasks with iterateTasks: peak RSS (target < ${STREAM_TARGET_MB} MB;` +
      ` ratio = target/peak)`,
    opsPerSec: peak,
    baselineOpsPerSec: STREAM_TARGET_MB,
    ratio: STREAM_TARGET_MB / peak,
    unit: "MB",
    extra: {
      startRssMB: startRss,
      growthMB: peak - startRss,
      sampledPeakMB: sampled,
      tasks: count,
      seconds,
      tasksPerSec: count / seconds,
    },
  };
}

// ---------------------------------------------------------------- 1,000 × 10 messages

/**
 * Reading 1,000 tasks with 10 messages each: listTasks with messages (one
 * statement) against the fastest hand-written forms (the tasks, then all
 * their messages in one statement, ids as JSON or as an IN list, grouped
 * in JS) and against 1,001 statements (the tasks, then one per task).
 */
/**
 * The same read over a slower link — a loopback proxy that holds each
 * chunk 1 ms each way, as between hosts — where the 1,001-statement form
 * pays its round trips in full.
 */
async function overSlowerLink(url: string, quick: boolean): Promise<BenchRow> {
  const target = new URL(url);
  const proxy = startProxy(
    { hostname: target.hostname, port: Number(target.port || 5432) },
    { delayMs: 1 },
  );
  const sql = postgres(proxy.url(url), { max: 1, onnotice: () => {} });
  try {
    const time = async (runs: number, fn: () => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await fn();
        ms.push(performance.now() - t);
      }
      return percentile(ms, 50);
    };
    const rtt = await time(20, () => sql`SELECT 1`);
    const ours = await time(quick ? 1 : 3, () => listTasks(sql, { limit: 1000, messages: true }));
    const statements = await time(quick ? 1 : 2, async () => {
      const tasks = await sql`SELECT * FROM tasks ORDER BY created, id LIMIT 1000`;
      for (const t of tasks) {
        await sql`SELECT * FROM result_messages WHERE task_id = ${t.id} ORDER BY sequence`;
      }
    });
    return {
      name: `reading 1,000 tasks × 10 messages over a ${rtt.toFixed(1)} ms round trip: ` +
        "listTasks(messages) vs 1,001 statements (target ≥ 40×)",
      opsPerSec: 1000 / ours,
      baselineOpsPerSec: 1000 / statements,
      ratio: statements / ours,
      extra: { roundTripMs: rtt, oursMs: ours, statementsMs: statements },
    };
  } finally {
    await sql.end();
    await proxy.close();
  }
}

async function readWithMessages(quick: boolean): Promise<BenchRow[]> {
  const cfg = config(quick);
  const db = await benchSchema(2);
  try {
    const { sql } = db;
    await sql`ALTER TABLE tasks DISABLE TRIGGER USER`;
    await sql`
      INSERT INTO tasks (id, action, status, result_status, created)
      SELECT md5('r' || i)::uuid, 'deploy_node', 'complete', 'success',
             timestamptz '2024-01-01' + i * interval '1 millisecond'
      FROM generate_series(1, 1000) AS i`;
    await sql`
      INSERT INTO result_messages (task_id, message, error, context)
      SELECT md5('r' || i)::uuid, 'step ' || k, k = 10, 'node' || i
      FROM generate_series(1, 1000) AS i, generate_series(1, 10) AS k ORDER BY i, k`;
    await sql`ANALYZE tasks`;
    await sql`ANALYZE result_messages`;
    const taskRows = () =>
      sql`
      SELECT t.*, ARRAY(SELECT c.id FROM tasks c WHERE c.parent_task_id = t.id
                        ORDER BY c.created, c.id) AS subtask_ids
      FROM tasks t ORDER BY t.created, t.id LIMIT 1000`;
    // deno-lint-ignore no-explicit-any
    const attach = (tasks: any[], messages: any[]) => {
      // deno-lint-ignore no-explicit-any
      const by = new Map<string, any[]>(tasks.map((t) => [t.id, []]));
      for (const m of messages) by.get(m.task_id)!.push(m);
      return tasks.map((t) => {
        const ms = by.get(t.id)!;
        return { ...t, messages: ms, errorCount: ms.filter((m) => m.error).length };
      });
    };
    const ours = () => listTasks(sql, { limit: 1000, messages: true });
    const name = "reading 1,000 tasks × 10 messages: listTasks(messages) vs";
    const rows = [
      await compare(
        cfg,
        `${name} tasks + messages WHERE task_id IN (ids as JSON)`,
        ours,
        async () => {
          const tasks = await taskRows();
          const messages = await sql`
          SELECT * FROM result_messages
          WHERE task_id IN (SELECT jsonb_array_elements_text(
                              ${JSON.stringify(tasks.map((t) => t.id))}::text::jsonb)::uuid)
          ORDER BY task_id, sequence`;
          return attach(tasks, messages);
        },
      ),
      await compare(
        cfg,
        `${name} tasks + messages WHERE task_id IN (ids as an IN list)`,
        ours,
        async () => {
          const tasks = await taskRows();
          const messages = await sql`
          SELECT * FROM result_messages WHERE task_id IN ${sql(tasks.map((t) => t.id))}
          ORDER BY task_id, sequence`;
          return attach(tasks, messages);
        },
      ),
      await compare(cfg, `${name} 1,001 statements (tasks, then one per task)`, ours, async () => {
        const tasks = await taskRows();
        const messages = [];
        for (const t of tasks) {
          messages.push(
            ...await sql`SELECT * FROM result_messages WHERE task_id = ${t.id} ORDER BY sequence`,
          );
        }
        return attach(tasks, messages);
      }),
    ];
    // The 1,001-statement form pays one round trip per task: say what one costs here.
    const rtt: number[] = [];
    for (let k = 0; k < 200; k++) {
      const t = performance.now();
      await sql`SELECT 1`;
      rtt.push(performance.now() - t);
    }
    rows[2].extra = { roundTripMs: percentile(rtt, 50) };
    rows.push(await overSlowerLink(db.url, quick));
    return rows;
  } finally {
    await db.drop();
  }
}
