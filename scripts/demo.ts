/**
 * `deno task demo`: a deployment, end to end. Without `DATABASE_URL` it
 * runs on the embedded PGlite default; with it, on that server.
 *
 * It migrates, creates a deployment task with one subtask per node, queues
 * them, lets a few workers claim and run them (appending result messages),
 * rolls the results up to the parent, and prints a summary table.
 */
import postgres from "postgres";
import {
  appendResultMessage,
  claimNextTask,
  createDefaultRegistry,
  createTask,
  getTask,
  listSubtasks,
  migrate,
  type Sql,
  type Task,
  updateTask,
} from "../mod.ts";
import { openEmbedded } from "../src/embedded.ts";
import { latestBuildSummary, recordNodeBuild } from "./_demo_build.ts";
import { resolveDemoDesign } from "./_demo_design.ts";

const NODES = ["node01", "node02", "node03", "node04", "node05", "node06"];
const FAILING = "node05"; // one node fails, so the roll-up shows a partial success
const WORKERS = 3;

const started = performance.now();
function log(line: string): void {
  const ms = (performance.now() - started).toFixed(0).padStart(5);
  console.log(`[${ms} ms] ${line}`);
}
const short = (id: string) => id.slice(0, 8);

async function connect(): Promise<{ sql: Sql; where: string; close(): Promise<void> }> {
  const url = Deno.env.get("DATABASE_URL");
  if (url) {
    const sql = postgres(url, { max: 8, onnotice: () => {} });
    return { sql, where: `PostgreSQL at ${new URL(url).host}`, close: () => sql.end() };
  }
  const db = await openEmbedded();
  return { ...db, where: "embedded PGlite (set DATABASE_URL to use a server)" };
}

/** One worker: claims queued deploy_node tasks until none is left. */
async function worker(sql: Sql, name: string): Promise<void> {
  for (;;) {
    const task = await claimNextTask(sql, { actions: ["deploy_node"], claimedBy: name });
    if (!task) return;
    const node = (task.nodeFilter as { node_names: string[] }).node_names[0];
    log(`${name} claimed ${short(task.id)} (deploy_node ${node})`);
    await deployNode(sql, task, node);
  }
}

async function deployNode(sql: Sql, task: Task, node: string): Promise<void> {
  const steps = ["configure hardware", "deploy OS image", "run boot actions"];
  for (const step of steps) {
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 15));
    const failed = node === FAILING && step === "deploy OS image";
    await appendResultMessage(sql, task.id, {
      message: failed ? `${step}: image checksum mismatch` : `${step}: ok`,
      error: failed,
      context: node,
      contextType: "node",
    });
    if (failed) break;
  }
  const ok = node !== FAILING;
  await updateTask(sql, task.id, {
    status: "complete",
    result: ok
      ? { status: "success", successes: [node], message: `${node} deployed` }
      : { status: "failure", failures: [node], message: `${node} failed to deploy` },
  });
  if (ok) await recordNodeBuild(sql, node, task.id);
  log(`${task.claimedBy} finished ${node}: ${ok ? "success, build data recorded" : "FAILURE"}`);
}

/** Rolls the subtasks' results up to the parent, as Drydock's orchestrator does. */
async function rollUp(sql: Sql, parent: Task): Promise<Task> {
  const subtasks = await listSubtasks(sql, parent.id, { state: "complete" });
  const successes = subtasks.flatMap((t) => t.result.successes);
  const failures = subtasks.flatMap((t) => t.result.failures);
  const status = failures.length === 0
    ? "success"
    : successes.length === 0
    ? "failure"
    : "partial_success";
  return await updateTask(sql, parent.id, {
    status: "complete",
    result: {
      status,
      successes,
      failures,
      message: `${successes.length} deployed, ${failures.length} failed`,
    },
  }, { expectedVersion: parent.version });
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)]
    .join("\n");
}

const db = await connect();
const designDir = await Deno.makeTempDir({ prefix: "statemgmt-demo-" });
try {
  const { sql } = db;
  console.log(`statemgmt demo on ${db.where}\n`);
  const { applied, current } = await migrate(sql);
  log(`migrate: ${applied.length} applied, current ${current}`);

  const design = await resolveDemoDesign(designDir);
  for (const r of design.refused) log(`design: refused ${r.uri} (${r.code})`);

  const parent = await createTask(sql, {
    action: "deploy_nodes",
    status: "running",
    createdBy: "demo",
    designRef: design.uri,
    nodeFilter: { filter_set_type: "union", filter_set: [{ node_names: NODES }] },
    requestContext: { user: "demo", request_id: crypto.randomUUID() },
  });
  log(`created deploy_nodes ${short(parent.id)} for design ${parent.designRef}`);
  // The orchestrator resolves the task's design before it works on it.
  const registry = createDefaultRegistry({ file: { roots: [designDir] } });
  const doc = await registry.resolve(parent.designRef!, { signal: AbortSignal.timeout(10_000) });
  log(`resolved the design: ${doc.bytes.length} bytes, sha256 ${doc.sha256.slice(0, 16)}…`);
  for (const node of NODES) {
    await createTask(sql, {
      action: "deploy_node",
      parentTaskId: parent.id,
      status: "queued",
      createdBy: "demo",
      nodeFilter: { node_names: [node] },
    });
  }
  log(`queued ${NODES.length} deploy_node subtasks: ${NODES.join(", ")}`);

  await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(sql, `worker-${i + 1}`)));
  const rolled = await rollUp(sql, (await getTask(sql, parent.id, { messages: false }))!);
  log(`rolled up to ${short(parent.id)}: ${rolled.result.status} (${rolled.result.message})`);

  const subtasks = await listSubtasks(sql, parent.id);
  const rows = [["task", "action", "node", "status", "result", "messages", "errors", "worker"]];
  for (const t of [rolled, ...subtasks]) {
    const full = (await getTask(sql, t.id))!;
    rows.push([
      short(t.id),
      t.action,
      t.parentTaskId
        ? t.result.successes[0] ?? t.result.failures[0] ?? ""
        : `${NODES.length} nodes`,
      t.status,
      t.result.status,
      String(full.messages!.length),
      String(full.result.errorCount),
      t.claimedBy ?? "",
    ]);
  }
  console.log(`\n${table(rows)}\n`);
  console.log("latest build data per node and generator:");
  for (const line of await latestBuildSummary(sql, NODES)) console.log(`  ${line}`);
  console.log();
  log("done");
} finally {
  await db.close();
  await Deno.remove(designDir, { recursive: true });
}
