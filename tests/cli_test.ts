/**
 * The operator CLI, run as a user runs it: a real `deno run` subprocess
 * per command, against a fresh schema, checking output and exit codes —
 * the errors included (no database, not migrated, unknown id).
 */
import { assert, assertEquals } from "./_assert.ts";
import { connect, createSubtask, urlFor, withSchema } from "./_helpers.ts";
import {
  appendResultMessage,
  claimLeadership,
  claimNextTask,
  createTask,
  getTask,
  updateTask,
} from "../mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = "src/cli/mod.ts";

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI with `args`; `DATABASE_URL` is set to `url` ("" when not given). */
async function cli(args: string[], url = ""): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    env: { DATABASE_URL: url, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

function expect(run: Run, code: number, includes: string[] = []): void {
  const text = run.out + run.err;
  assertEquals(run.code, code, `exit ${run.code}, expected ${code}:\n${text}`);
  for (const s of includes) assert(text.includes(s), `no "${s}" in:\n${text}`);
}

const COMMANDS = [
  "migrate",
  "migrate status",
  "tasks list",
  "tasks show",
  "tasks tail",
  "tasks requeue",
  "tasks terminate",
  "leader",
  "recover",
];

Deno.test("cli: --help on every command exits 0; bad usage exits 2", async () => {
  const top = await cli(["--help"]);
  expect(top, 0, ["Exit codes:", "DATABASE_URL", ...COMMANDS]);
  const helps = await Promise.all(COMMANDS.map((c) => cli([...c.split(" "), "--help"])));
  helps.forEach((r, i) => expect(r, 0, [`Usage: statemgmt ${COMMANDS[i]}`, "--url URL"]));
  expect(await cli([]), 2, ["Usage: statemgmt <command>"]);
  expect(await cli(["tasks", "bogus"]), 2, ['unknown command "tasks bogus"']);
  expect(await cli(["tasks", "list", "--bogus"]), 2, ["Unknown option '--bogus'", "--help"]);
  expect(await cli(["recover", "--stale-after", "soon"]), 2, ["takes a duration"]);
});

Deno.test("cli: no database is a usage error (2); an unreachable one fails (1), redacted", async () => {
  expect(await cli(["tasks", "list"]), 2, ["no database: set DATABASE_URL or pass --url"]);
  const url = "postgres://postgres:hunter2@127.0.0.1:1/site";
  const run = await cli(["tasks", "list", "--url", url]);
  expect(run, 1, ["no database at postgres://postgres:***@127.0.0.1:1/site", "ECONNREFUSED"]);
  assert(!(run.out + run.err).includes("hunter2"), "the password is printed");
});

Deno.test("cli: migrate creates the search_path schema when it does not exist", async () => {
  const schema = `nope_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = connect({ max: 1 });
  try {
    expect(await cli(["migrate", "--url", urlFor(schema)]), 0, ["applied 0001_tasks"]);
    const [row] = await admin`SELECT to_regclass(${`${schema}.tasks`}) IS NOT NULL AS migrated`;
    assert(row.migrated, `no ${schema}.tasks`);
  } finally {
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
});

Deno.test("cli: not migrated says run migrate; migrate and migrate status", () =>
  withSchema(async (_sql, { url, schema }) => {
    expect(await cli(["tasks", "list"], url), 1, [`schema "${schema}"`, "run `statemgmt migrate`"]);
    expect(await cli(["leader"], url), 1, ["not migrated"]);
    expect(await cli(["migrate", "status"], url), 0, ["0001_tasks", "pending"]);
    expect(await cli(["migrate"], url), 0, ["applied 0001_tasks", "now at"]);
    expect(await cli(["migrate"], url), 0, ["up to date at"]);
    const status = await cli(["migrate", "status", "--json"], url);
    expect(status, 0);
    assertEquals(JSON.parse(status.out).pending, []);
  }, { migrate: false }));

Deno.test("cli: tasks list filters, prints a table and --json", () =>
  withSchema(async (sql, { url }) => {
    const a = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    const b = await createTask(sql, { action: "prepare_site", status: "complete" });
    const table = await cli(["tasks", "list"], url);
    expect(table, 0, ["ID", "ACTION", "STATUS", a.id, b.id, "deploy_nodes"]);
    const queued = await cli(["tasks", "list", "--status", "queued", "--json"], url);
    expect(queued, 0);
    assertEquals(JSON.parse(queued.out).map((t: { id: string }) => t.id), [a.id]);
    const byAction = await cli(["tasks", "list", "--action", "prepare_site", "--json"], url);
    assertEquals(JSON.parse(byAction.out).map((t: { id: string }) => t.id), [b.id]);
    const all = await cli(["tasks", "list", "--all", "--status", "queued,complete", "--json"], url);
    assertEquals(JSON.parse(all.out).length, 2);
    expect(await cli(["tasks", "list", "--status", "done"], url), 2, ["unknown status"]);
  }));

Deno.test("cli: tasks show prints the task, its tree and messages; unknown id exits 3", () =>
  withSchema(async (sql, { url }) => {
    const root = await createTask(sql, { action: "deploy_nodes" });
    const child = await createTask(sql, { action: "prepare_nodes", parentTaskId: root.id });
    const grandchild = await createTask(sql, { action: "node_power", parentTaskId: child.id });
    await appendResultMessage(sql, root.id, { message: "node01 failed", error: true });
    const run = await cli(["tasks", "show", root.id], url);
    expect(run, 0, [root.id, `├─ ${child.id}`.slice(3), grandchild.id, "node01 failed"]);
    assert(run.out.includes("messages (1, 1 errors)"), run.out);
    const json = JSON.parse((await cli(["tasks", "show", root.id, "--json"], url)).out);
    assertEquals(json.task.id, root.id);
    assertEquals(json.subtasks[0].subtasks[0].task.id, grandchild.id);
    const missing = crypto.randomUUID();
    expect(await cli(["tasks", "show", missing], url), 3, [`no task ${missing}`]);
    expect(await cli(["tasks", "show", "nope"], url), 2, ["UUID"]);
    expect(await cli(["tasks", "show"], url), 2, ["missing task id"]);
  }));

Deno.test("cli: tasks requeue requeues finished tasks, refuses running (4), unknown (3)", () =>
  withSchema(async (sql, { url }) => {
    const done = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    await claimNextTask(sql, { claimedBy: "w1" });
    await updateTask(sql, done.id, { status: "complete", result: { status: "failure" } });
    const running = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    await claimNextTask(sql, { claimedBy: "w2" });
    expect(await cli(["tasks", "requeue", done.id, "--by", "ops"], url), 0, ["queued (retry 1)"]);
    const after = await getTask(sql, done.id);
    assertEquals([after!.status, after!.retry, after!.result.status], ["queued", 1, "incomplete"]);
    assert(after!.messages!.some((m) => m.message === "requeued from complete by ops"));
    expect(await cli(["tasks", "requeue", running.id], url), 4, ["is running", "--force"]);
    expect(await cli(["tasks", "requeue", running.id, "--force"], url), 0, ["queued"]);
    expect(await cli(["tasks", "requeue", crypto.randomUUID()], url), 3, ["no task"]);
  }));

Deno.test("cli: tasks terminate cascades unless --no-cascade; a terminated task is not requeued", () =>
  withSchema(async (sql, { url }) => {
    const root = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    const child = await createSubtask(sql, root.id, "prepare_nodes", "queued");
    const lone = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    const loneChild = await createSubtask(sql, lone.id, "prepare_nodes", "queued");
    expect(await cli(["tasks", "terminate", root.id], url), 0, ["termination requested"]);
    assert((await getTask(sql, child.id))!.terminate, "the subtask was not marked");
    expect(await cli(["tasks", "terminate", lone.id, "--no-cascade", "--json"], url), 0);
    assert(!(await getTask(sql, loneChild.id))!.terminate, "--no-cascade cascaded");
    expect(await cli(["tasks", "requeue", root.id], url), 4, ["cannot be requeued"]);
    expect(await cli(["tasks", "terminate", crypto.randomUUID()], url), 3);
  }));

Deno.test("cli: tasks tail follows messages and status until the task finishes", () =>
  withSchema(async (sql, { url }) => {
    const task = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    await claimNextTask(sql, { claimedBy: "w1" });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "tasks", "tail", task.id, "--poll", "200ms", "--timeout", "60s"],
      cwd: ROOT,
      env: { DATABASE_URL: url, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = readLines(child.stdout);
    // Change the task only once tail has printed its first state.
    assertEquals(
      (await lines.next()).value,
      `task ${task.id} deploy_nodes: running (result incomplete)`,
    );
    await appendResultMessage(sql, task.id, { message: "node01 deployed" });
    await updateTask(sql, task.id, { status: "complete", result: { status: "success" } });
    const rest: string[] = [];
    for await (const line of lines) rest.push(line);
    const run = { code: (await child.status).code, out: rest.join("\n"), err: await stderr };
    expect(run, 0, ["node01 deployed", "status running → complete (result success)"]);
    const t = await createTask(sql, { action: "deploy_nodes" });
    expect(await cli(["tasks", "tail", t.id, "--timeout", "1s"], url), 1, ["timed out after 1s"]);
    expect(await cli(["tasks", "tail", crypto.randomUUID()], url), 3, ["no task"]);
  }));

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    yield* parts;
  }
  if (buffered) yield buffered;
}

Deno.test("cli: leader shows holder and term; exits 3 when nobody leads", () =>
  withSchema(async (sql, { url }) => {
    expect(await cli(["leader"], url), 3, ['no current leader of election "default"']);
    const lease = await claimLeadership(sql, { identity: "node-a", leaseMs: 60_000 });
    expect(await cli(["leader"], url), 0, ["node-a", `term`, String(lease!.term)]);
    const json = JSON.parse((await cli(["leader", "--json"], url)).out);
    assertEquals([json.holder, json.term], ["node-a", lease!.term]);
  }));

Deno.test("cli: recover --stale-after requeues running tasks with an old heartbeat", () =>
  withSchema(async (sql, { url }) => {
    const stale = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    await claimNextTask(sql, { claimedBy: "dead-worker" });
    const fresh = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    await claimNextTask(sql, { claimedBy: "live-worker" });
    await sql`UPDATE tasks SET heartbeat_at = clock_timestamp() - interval '1 hour'
              WHERE id = ${stale.id}`;
    expect(await cli(["recover", "--stale-after", "10m"], url), 0, [stale.id, "1 stale task(s)"]);
    assertEquals((await getTask(sql, stale.id))!.status, "queued");
    assertEquals((await getTask(sql, fresh.id))!.status, "running");
    expect(await cli(["recover", "--stale-after", "10m"], url), 0, ["no stale tasks"]);
    expect(await cli(["recover"], url), 2, ["missing --stale-after"]);
  }));
