/**
 * rollUpResults and recordResult: Drydock's voting cases, the retry rule,
 * the action filter, the order of entities, and the roll-up under
 * concurrent completions.
 */
import {
  type ActionResult,
  createTask,
  createTasks,
  NotFoundError,
  type Sql,
  type Task,
  updateTask,
} from "../mod.ts";
import { recordResult, rollUpResults } from "../src/lifecycle.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

interface Sub {
  result: ActionResult;
  successes?: string[];
  failures?: string[];
  action?: string;
  retry?: number;
  status?: "complete" | "terminated" | "running";
}

/** A parent (at `retry`) with finished subtasks as described, created in order. */
async function tree(sql: Sql, subs: Sub[], retry = 0): Promise<Task> {
  const parent = await createTask(sql, { action: "deploy_nodes", status: "running", retry });
  for (const s of subs) {
    const child = await createTask(sql, {
      action: s.action ?? "deploy_node",
      parentTaskId: parent.id,
      status: "queued",
      retry: s.retry ?? 0,
    });
    await updateTask(sql, child.id, {
      status: s.status ?? "complete",
      result: { status: s.result, successes: s.successes ?? [], failures: s.failures ?? [] },
    });
  }
  return parent;
}

const summary = (t: Task) => [t.result.status, t.result.successes, t.result.failures];

dbTest(
  "rollUpResults(): all success → success, all failure → failure, a mix → partial_success",
  async (sql) => {
    const ok = await tree(sql, [
      { result: "success", successes: ["n1"] },
      { result: "success", successes: ["n2"] },
    ]);
    assertEquals(summary(await rollUpResults(sql, ok.id)), ["success", ["n1", "n2"], []]);
    const bad = await tree(sql, [
      { result: "failure", failures: ["n1"] },
      { result: "failure", failures: ["n2"] },
    ]);
    assertEquals(summary(await rollUpResults(sql, bad.id)), ["failure", [], ["n1", "n2"]]);
    const mixed = await tree(sql, [
      { result: "success", successes: ["n1"] },
      { result: "failure", failures: ["n2"] },
    ]);
    assertEquals(summary(await rollUpResults(sql, mixed.id)), ["partial_success", ["n1"], ["n2"]]);
    // A partial_success subtask is a vote both ways.
    const partial = await tree(sql, [
      { result: "partial_success", successes: ["n1"], failures: ["n2"] },
    ]);
    assertEquals(summary(await rollUpResults(sql, partial.id)), [
      "partial_success",
      ["n1"],
      ["n2"],
    ]);
  },
);

dbTest("rollUpResults(): no subtasks → success; only unfinished ones → incomplete", async (sql) => {
  const lone = await createTask(sql, { action: "deploy_nodes", status: "running" });
  const rolled = await rollUpResults(sql, lone.id);
  assertEquals(rolled.result.status, "success");
  assertEquals(rolled.version, lone.version + 1);
  const waiting = await tree(sql, [{ result: "success", successes: ["n1"], status: "running" }]);
  assertEquals(summary(await rollUpResults(sql, waiting.id)), ["incomplete", [], []]);
});

dbTest(
  "rollUpResults(): a failure from an older retry does not count once the parent retried",
  async (sql) => {
    const parent = await tree(sql, [
      { result: "failure", failures: ["n2"], retry: 0 }, // the first attempt
      { result: "success", successes: ["n1"], retry: 0 },
      { result: "success", successes: ["n2"], retry: 1 }, // n2 again, on the retry
    ], 1);
    assertEquals(summary(await rollUpResults(sql, parent.id)), ["success", ["n1", "n2"], []]);
    // The same subtasks under a parent that never retried: every failure counts.
    const first = await tree(sql, [
      { result: "failure", failures: ["n2"], retry: 0 },
      { result: "success", successes: ["n1"], retry: 0 },
    ], 0);
    assertEquals(summary(await rollUpResults(sql, first.id)), ["partial_success", ["n1"], ["n2"]]);
  },
);

dbTest(
  "rollUpResults({action}) counts only that action, successes and failures alike",
  async (sql) => {
    const parent = await tree(sql, [
      { result: "success", successes: ["n1"], action: "deploy_node" },
      { result: "failure", failures: ["n9"], action: "prepare_node" },
    ]);
    assertEquals(summary(await rollUpResults(sql, parent.id, { action: "deploy_node" })), [
      "success",
      ["n1"],
      [],
    ]);
    assertEquals(summary(await rollUpResults(sql, parent.id, { action: "prepare_node" })), [
      "failure",
      [],
      ["n9"],
    ]);
    assertEquals(
      (await rollUpResults(sql, parent.id, { action: "other" })).result.status,
      "incomplete",
    );
  },
);

dbTest(
  "rollUpResults(): distinct unions in subtask order, then list order; message kept",
  async (sql) => {
    const parent = await tree(sql, [
      { result: "success", successes: ["b", "a"] },
      { result: "incomplete", successes: ["t"], status: "terminated" },
      { result: "partial_success", successes: ["a", "c"], failures: ["x", "y"] },
      { result: "failure", failures: ["y", "z"] },
    ]);
    await updateTask(sql, parent.id, { result: { message: "kept", reason: "kept too" } });
    const rolled = await rollUpResults(sql, parent.id);
    assertEquals(summary(rolled), ["partial_success", ["b", "a", "t", "c"], ["x", "y", "z"]]);
    assertEquals([rolled.result.message, rolled.result.reason, rolled.status], [
      "kept",
      "kept too",
      "running",
    ]);
    await assertRejects(() => rollUpResults(sql, crypto.randomUUID()), NotFoundError);
  },
);

dbTest("rollUpResults() records a 'result' event", async (sql) => {
  const parent = await tree(sql, [{ result: "success", successes: ["n1"] }]);
  await rollUpResults(sql, parent.id);
  const events = await sql`SELECT kind, status FROM task_events WHERE task_id = ${parent.id}
    ORDER BY id`;
  assertEquals(events.at(-1), { kind: "result", status: "running" });
});

dbTest(
  "20 subtasks completed concurrently by 8 connections, each rolled up in its own transaction → all 20 counted",
  async (sql, ctx) => {
    const parent = await createTask(sql, { action: "deploy_nodes", status: "running" });
    const subs = await createTasks(
      sql,
      Array.from({ length: 20 }, () => ({
        action: "deploy_node",
        parentTaskId: parent.id,
        status: "running" as const,
      })),
    );
    const pools = Array.from({ length: 8 }, () => ctx.connect({ max: 1 }));
    const next = { i: 0 };
    await Promise.all(pools.map(async (pool) => {
      for (let i = next.i++; i < subs.length; i = next.i++) {
        await pool.begin(async (tx) => {
          await updateTask(tx, subs[i].id, {
            status: "complete",
            result: { status: "success", successes: [`node${String(i).padStart(2, "0")}`] },
          });
          // Some time between the completion and the roll-up widens the race.
          await tx`SELECT pg_sleep(0.01)`;
          await rollUpResults(tx, parent.id);
        });
      }
    }));
    const [row] = await sql`SELECT result_successes FROM tasks WHERE id = ${parent.id}`;
    assertEquals(row.result_successes.length, 20, `only ${row.result_successes.length} counted`);
    assertEquals(
      [...row.result_successes].sort(),
      subs.map((_, i) => `node${String(i).padStart(2, "0")}`),
    );
  },
);

dbTest("recordResult(): Drydock's votes, entity by entity", async (sql) => {
  const task = await createTask(sql, { action: "deploy_node", status: "running" });
  const steps: [Parameters<typeof recordResult>[2], ActionResult][] = [
    [{ successes: ["n1"] }, "success"],
    [{ successes: ["n2"] }, "success"],
    [{ failures: ["n3"] }, "partial_success"],
    [{ successes: ["n4"] }, "partial_success"],
  ];
  for (const [input, expected] of steps) {
    assertEquals((await recordResult(sql, task.id, input)).result.status, expected);
  }
  const other = await createTask(sql, { action: "deploy_node", status: "running" });
  assertEquals((await recordResult(sql, other.id, { failures: ["n1"] })).result.status, "failure");
  assertEquals(
    (await recordResult(sql, other.id, { successes: ["n2"] })).result.status,
    "partial_success",
  );
  const both = await createTask(sql, { action: "deploy_node", status: "running" });
  const mixed = await recordResult(sql, both.id, { successes: ["a"], failures: ["b"] });
  assertEquals(mixed.result.status, "partial_success");
  await assertRejects(
    () => recordResult(sql, crypto.randomUUID(), { successes: ["x"] }),
    NotFoundError,
  );
});

dbTest("recordResult(): entities and links appended once each, in order", async (sql) => {
  const task = await createTask(sql, { action: "deploy_node", status: "running" });
  await recordResult(sql, task.id, {
    successes: ["b", "a", "b"],
    links: [{ rel: "log", href: "https://maas/1" }, { rel: "log", href: "https://maas/1" }],
  });
  const t = await recordResult(sql, task.id, {
    successes: ["a", "c"],
    links: [{ rel: "log", href: "https://maas/1" }, { rel: "log", href: "https://maas/2" }],
  });
  assertEquals(t.result.successes, ["b", "a", "c"]);
  assertEquals(t.result.links, [
    { rel: "log", href: "https://maas/1" },
    { rel: "log", href: "https://maas/2" },
  ]);
});

dbTest("recordResult() from 8 connections at once keeps every entity", async (sql, ctx) => {
  const task = await createTask(sql, { action: "deploy_nodes", status: "running" });
  const pools = Array.from({ length: 8 }, () => ctx.connect({ max: 1 }));
  await Promise.all(pools.map(async (pool, p) => {
    for (let i = 0; i < 5; i++) {
      await recordResult(
        pool,
        task.id,
        i % 2 ? { failures: [`f${p}.${i}`] } : {
          successes: [`s${p}.${i}`],
        },
      );
    }
  }));
  const [row] = await sql`SELECT result_successes, result_failures, result_status
    FROM tasks WHERE id = ${task.id}`;
  assertEquals([row.result_successes.length, row.result_failures.length], [24, 16]);
  assert(row.result_status === "partial_success");
});
