/**
 * The HTTP face: `GET /tasks/{id}?layers=-1` for a tree of 1 + 50 + 500
 * tasks (statements sent and latency; baseline: Drydock's walk, one read
 * per task, with getTask), and `GET /tasks` streaming 100,000 tasks (peak
 * RSS of a fresh process; baseline: the target).
 */
import postgres from "postgres";
import { createTasks, getTask, type TaskInput } from "../mod.ts";
import { createHttpHandler } from "../src/http/mod.ts";
import { type BenchRow, benchSchema, median } from "./_harness.ts";

const STREAM_TARGET_MB = 200;

/** Runs the HTTP section. */
export async function benchHttp(opts: { quick: boolean }): Promise<BenchRow[]> {
  const db = await benchSchema(4);
  try {
    const rows = [await treeRead(db.url, opts.quick)];
    rows.push(await streamAll(db, opts.quick ? 10_000 : 100_000));
    return rows;
  } finally {
    await db.drop();
  }
}

async function seedTree(sql: postgres.Sql): Promise<string> {
  const root = crypto.randomUUID();
  const inputs: TaskInput[] = [{ id: root, action: "deploy_nodes" }];
  for (let i = 0; i < 50; i++) {
    const child = crypto.randomUUID();
    inputs.push({ id: child, parentTaskId: root, action: "deploy_node" });
    for (let j = 0; j < 10; j++) {
      inputs.push({ parentTaskId: child, action: "apply_node_networking" });
    }
  }
  await createTasks(sql, inputs);
  return root;
}

async function treeRead(url: string, quick: boolean): Promise<BenchRow> {
  let statements = 0;
  const sql = postgres(url, { max: 4, onnotice: () => {}, debug: () => void statements++ });
  try {
    const root = await seedTree(sql);
    const handler = createHttpHandler(sql);
    const get = async () => {
      const r = await handler(new Request(`http://bench/api/v1.0/tasks/${root}?layers=-1`));
      const body = await r.json();
      if (Object.keys(body).length !== 552) throw new Error("the tree is not whole");
    };
    const walk = async () => {
      // Drydock's handle_layers: one read per task, layer by layer.
      let layer = [root];
      while (layer.length) {
        const tasks = await Promise.all(layer.map((id) => getTask(sql, id)));
        layer = tasks.flatMap((t) => t!.subtaskIds);
      }
    };
    const runs = quick ? 3 : 15;
    const time = async (fn: () => Promise<void>) => {
      await fn();
      const ms: number[] = [];
      let sent = 0;
      for (let i = 0; i < runs; i++) {
        const before = statements;
        const t = performance.now();
        await fn();
        ms.push(performance.now() - t);
        sent = statements - before;
      }
      return { p50: median(ms), sent };
    };
    const ours = await time(get);
    const base = await time(walk);
    return {
      name: "GET /tasks/{id}?layers=-1, tree of 1 + 50 + 500 (baseline: a read per task)",
      opsPerSec: 1000 / ours.p50,
      baselineOpsPerSec: 1000 / base.p50,
      ratio: base.p50 / ours.p50,
      unit: "req/s",
      extra: {
        p50ms: ours.p50,
        statements: ours.sent,
        baselineP50ms: base.p50,
        baselineStatements: base.sent,
      },
    };
  } finally {
    await sql.end();
  }
}

async function streamAll(
  db: { sql: postgres.Sql; url: string },
  size: number,
): Promise<BenchRow> {
  for (let done = 0; done < size; done += 10_000) {
    const n = Math.min(10_000, size - done);
    await createTasks(db.sql, Array.from({ length: n }, () => ({ action: "deploy_node" })));
  }
  await db.sql`VACUUM ANALYZE tasks`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./_http_stream_child.ts", import.meta.url).pathname],
    env: { DATABASE_URL: db.url },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the streaming child exited ${out.code}`);
  const { startRss, peak, bytes, seconds } = JSON.parse(new TextDecoder().decode(out.stdout));
  return {
    name: `GET /tasks streaming ${size.toLocaleString("en")} tasks: peak RSS` +
      ` (target < ${STREAM_TARGET_MB} MB; ratio = target/peak)`,
    opsPerSec: peak,
    baselineOpsPerSec: STREAM_TARGET_MB,
    ratio: STREAM_TARGET_MB / peak,
    unit: "MB",
    extra: { startRssMB: startRss, growthMB: peak - startRss, MB_sent: bytes / 1048576, seconds },
  };
}
