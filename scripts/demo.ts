/**
 * `deno task demo`: a deployment, end to end. Without `DATABASE_URL` it
 * runs on the embedded PGlite default; with it, on that server.
 *
 * It migrates, resolves a `file://` site design, creates a deployment task
 * with one subtask per node and queues them. Three orchestrator instances
 * elect a leader; the leader's workers claim and deploy nodes with its
 * lease (result messages, build data, boot actions). Mid-way the leader
 * stops, leaving a node claimed: another instance takes over within
 * milliseconds at a new term, recovers that node and finishes. One node
 * fails its first attempt and is retried after a back-off; it succeeds on
 * the retry. The demo waits for the subtasks (`waitForSubtasks`), rolls
 * their results up to the parent (`rollUpResults`) and summarises. Last,
 * an operator terminates another task tree while one of its subtasks runs
 * and one waits in the queue.
 */
import postgres from "postgres";
import {
  appendResultMessage,
  claimNextTask,
  createDefaultRegistry,
  createTask,
  getTask,
  type Lease,
  listSubtasks,
  migrate,
  recoverTasks,
  type Sql,
  type Task,
  updateTask,
} from "../mod.ts";
import { recordResult, retryTask, rollUpResults, waitForSubtasks } from "../src/lifecycle.ts";
import { openEmbedded } from "../src/embedded.ts";
import { latestBuildSummary, recordNodeBuild } from "./_demo_build.ts";
import { resolveDemoDesign } from "./_demo_design.ts";
import { demoLeadership } from "./_demo_leadership.ts";
import { demoTermination } from "./_demo_termination.ts";

const NODES = ["node01", "node02", "node03", "node04", "node05", "node06"];
const FAILING = "node05"; // fails its first attempt, and succeeds on the retry
const WORKERS = 3;

const started = performance.now();
function log(line: string): void {
  const ms = (performance.now() - started).toFixed(0).padStart(5);
  console.log(`[${ms} ms] ${line}`);
}
const short = (id: string) => id.slice(0, 8);

interface DemoDb {
  sql: Sql;
  where: string;
  /** What the demo leaves behind, said at the end. */
  leaves: string;
  close(): Promise<void>;
}

async function connect(): Promise<DemoDb> {
  const url = Deno.env.get("DATABASE_URL");
  if (url) {
    const u = new URL(url);
    const sql = postgres(url, { max: 8, onnotice: () => {} });
    const where = `PostgreSQL at ${u.host}, database ${u.pathname.slice(1) || u.username}` +
      (u.searchParams.has("search_path") ? `, schema ${u.searchParams.get("search_path")}` : "");
    const schema = u.searchParams.get("search_path");
    const leaves = `its tables and tasks in ${where}; ` +
      (schema ? `DROP SCHEMA ${schema} CASCADE removes them` : "migrate's tables stay for reuse");
    return { sql, where, leaves, close: () => sql.end() };
  }
  // PGlite takes 5–12 s to start here: say so before the wait, not after.
  console.log("starting embedded PostgreSQL (PGlite, in memory)…");
  const db = await openEmbedded();
  return {
    ...db,
    where: "embedded PGlite, in memory (set DATABASE_URL to use a server)",
    leaves: "nothing: the embedded database lived in memory and is gone",
  };
}

const nodeOf = (task: Task) => (task.nodeFilter as { node_names: string[] }).node_names[0];

/** Claims the next queued deploy_node task for the leader: fenced by its lease. */
async function claim(sql: Sql, lease: Lease, name: string): Promise<Task | null> {
  const task = await claimNextTask(sql, { actions: ["deploy_node"], claimedBy: name, lease });
  if (task) log(`${name} claimed ${short(task.id)} (deploy_node ${nodeOf(task)})`);
  return task;
}

/** One of the leader's workers: deploys nodes until the queue is empty or `limit` is reached. */
async function worker(
  sql: Sql,
  lease: Lease,
  name: string,
  signal: AbortSignal,
  budget: { left: number },
): Promise<void> {
  while (budget.left-- > 0 && !signal.aborted) {
    const task = await claim(sql, lease, name);
    if (!task) {
      // A retry waiting out its back-off is not claimable yet: wait for it.
      if (!await retryPending(sql)) return;
      budget.left++;
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    await deployNode(sql, task, nodeOf(task), lease);
  }
}

/**
 * The leader's work. The first leader deploys three nodes, then claims one
 * more and stops before finishing it; its successor recovers that node and
 * deploys the rest.
 */
function leaderWork(sql: Sql) {
  let terms = 0;
  return async (lease: Lease, signal: AbortSignal): Promise<void> => {
    const first = terms++ === 0;
    const orphans = await recoverTasks(sql, lease);
    for (const t of orphans) {
      log(`${lease.holder} recovered ${nodeOf(t)}, left running by an older term: requeued`);
    }
    const budget = { left: first ? 3 : Infinity };
    await Promise.all(
      Array.from(
        { length: WORKERS },
        (_, i) => worker(sql, lease, `${lease.holder}/w${i + 1}`, signal, budget),
      ),
    );
    if (first) {
      const task = await claim(sql, lease, `${lease.holder}/w1`);
      if (task) log(`${lease.holder} is stopped before it finishes ${nodeOf(task)}`);
    }
  };
}

/** Whether a deploy_node task is queued but not yet due (a retry in its back-off). */
async function retryPending(sql: Sql): Promise<boolean> {
  const [row] = await sql`SELECT count(*)::int AS n FROM tasks
    WHERE action = 'deploy_node' AND status = 'queued' AND run_after > clock_timestamp()`;
  return row.n > 0;
}

async function deployNode(sql: Sql, task: Task, node: string, lease: Lease): Promise<void> {
  const steps = ["configure hardware", "deploy OS image", "run boot actions"];
  let failed = false;
  for (const step of steps) {
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 15));
    failed = node === FAILING && task.retry === 0 && step === "deploy OS image";
    await appendResultMessage(sql, task.id, {
      message: failed ? `${step}: image checksum mismatch` : `${step}: ok`,
      error: failed,
      context: node,
      contextType: "node",
    });
    if (failed) break;
  }
  // The entity and its vote, recorded atomically; then finish, or retry.
  await recordResult(sql, task.id, failed ? { failures: [node] } : { successes: [node] }, {
    lease,
  });
  if (failed) {
    const { retried } = await retryTask(sql, task.id, { maxAttempts: 2, backoffMs: 200, lease });
    log(`${task.claimedBy}: ${node} FAILED; ${retried ? "retry queued after 200 ms" : "no retry"}`);
    return;
  }
  await updateTask(sql, task.id, { status: "complete", result: { message: `${node} deployed` } }, {
    lease,
  });
  await recordNodeBuild(sql, node, task.id);
  const attempt = task.retry > 0 ? ` on retry ${task.retry}` : "";
  log(`${task.claimedBy} finished ${node}${attempt}: success, build data recorded`);
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

  const handover = await demoLeadership(sql, log, leaderWork(sql));
  const done = await waitForSubtasks(sql, parent.id, { action: "deploy_node", timeoutMs: 30_000 });
  log(`all ${done.length} deploy_node subtasks finished`);
  await rollUpResults(sql, parent.id, { action: "deploy_node" });
  const rolled = await updateTask(sql, parent.id, {
    status: "complete",
    result: { message: "deployment finished" },
  });
  log(
    `rolled up to ${short(parent.id)}: ${rolled.result.status} ` +
      `(${rolled.result.successes.length} succeeded, ${rolled.result.failures.length} failed)`,
  );

  const subtasks = await listSubtasks(sql, parent.id);
  const rows = [[
    "task",
    "action",
    "node",
    "status",
    "result",
    "messages",
    "errors",
    "claimed by",
    "term",
    "retry",
  ]];
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
      t.claimedTerm === null ? "" : String(t.claimedTerm),
      String(t.retry),
    ]);
  }
  console.log(`\n${table(rows)}\n`);
  console.log("latest build data per node and generator:");
  for (const line of await latestBuildSummary(sql, NODES)) console.log(`  ${line}`);
  console.log();
  await demoTermination(sql, log);
  log(
    `done: leadership moved from term ${handover.firstTerm} to ${handover.nextTerm} ` +
      `in ${handover.handoverMs.toFixed(1)} ms`,
  );
} finally {
  await db.close();
  await Deno.remove(designDir, { recursive: true });
}
console.log(`\nThe demo leaves ${db.leaves}.`);
