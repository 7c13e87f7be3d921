/**
 * Retention by state, and the bugs of issue 12: cycles under concurrent
 * addSubtask, cursors that outlive their task.
 */
import {
  addSubtask,
  ConflictError,
  createTask,
  createTasks,
  deleteTasksOlderThan,
  getTask,
  iterateTasks,
  listTasks,
  NotFoundError,
  type Sql,
} from "../mod.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { createSubtask, dbTest } from "./_helpers.ts";

const age = (sql: Sql, id: string) =>
  sql`UPDATE tasks SET created = created - interval '10 days' WHERE id = ${id}`;

dbTest(
  "deleteTasksOlderThan() deletes only trees in which every task is finished, with their events",
  async (sql) => {
    const cutoff = new Date(Date.now() - 86_400_000);
    const done = await createTask(sql, { action: "deploy_nodes", status: "complete" });
    const doneChild = await createSubtask(sql, done.id, "deploy_node", "terminated");
    const busy = await createTask(sql, { action: "deploy_nodes", status: "complete" });
    const busyChild = await createSubtask(sql, busy.id, "deploy_node", "complete");
    const running = await createSubtask(sql, busyChild.id, "deploy_node", "running");
    const queued = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    for (const t of [done, busy, queued]) await age(sql, t.id);
    const [{ n: before }] = await sql`SELECT count(*)::int AS n FROM task_events
    WHERE task_id IN (${done.id}, ${doneChild.id})`;
    assert(before > 0);
    assertEquals(await deleteTasksOlderThan(sql, cutoff), 2);
    assertEquals(await getTask(sql, done.id), null);
    assertEquals(await getTask(sql, doneChild.id), null);
    const [{ n: after }] = await sql`SELECT count(*)::int AS n FROM task_events
    WHERE task_id IN (${done.id}, ${doneChild.id})`;
    assertEquals(after, 0);
    for (const t of [busy, busyChild, running, queued]) assert(await getTask(sql, t.id), t.action);
    // Told otherwise: running and queued trees go too.
    assertEquals(
      await deleteTasksOlderThan(sql, cutoff, { statuses: ["complete", "running", "queued"] }),
      4,
    );
  },
);

dbTest(
  "deleteTasksOlderThan() walks past 1,000 kept trees to the finished ones behind them",
  async (sql) => {
    await sql`INSERT INTO tasks (id, action, status, created)
    SELECT gen_random_uuid(), 'deploy_nodes',
           CASE WHEN i <= 1500 THEN 'running' ELSE 'complete' END,
           clock_timestamp() - interval '10 days' + i * interval '1 millisecond'
    FROM generate_series(1, 1600) AS i`;
    assertEquals(await deleteTasksOlderThan(sql, new Date(Date.now() - 86_400_000)), 100);
  },
);

dbTest("concurrent addSubtask(A, B) and addSubtask(B, A) never both succeed", async (sql, ctx) => {
  for (let round = 0; round < 20; round++) {
    const [a, b] = await createTasks(sql, [{ action: "deploy_nodes" }, { action: "deploy_nodes" }]);
    const [one, two] = [ctx.connect({ max: 1 }), ctx.connect({ max: 1 })];
    // Both begin before either links, so each statement's snapshot misses the other's link.
    const results = await Promise.allSettled([
      one.begin(async (tx) => {
        await tx`SELECT pg_sleep(0.02)`;
        await addSubtask(tx, a.id, b.id);
      }),
      two.begin(async (tx) => {
        await tx`SELECT pg_sleep(0.02)`;
        await addSubtask(tx, b.id, a.id);
      }),
    ]);
    const ok = results.filter((r) => r.status === "fulfilled").length;
    assertEquals(ok, 1, `round ${round}: ${ok} links succeeded`);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert(failed.reason instanceof ConflictError, String(failed.reason));
    await Promise.all([one.end(), two.end()]);
  }
});

dbTest("a longer cycle closed by two concurrent links is refused too", async (sql, ctx) => {
  // a → b and c → d; linking c under b and a under d at once would close a → b → c → d → a.
  const [a, b, c, d] = await createTasks(sql, [
    { action: "t" },
    { action: "t" },
    { action: "t" },
    { action: "t" },
  ]);
  await addSubtask(sql, a.id, b.id);
  await addSubtask(sql, c.id, d.id);
  const [one, two] = [ctx.connect({ max: 1 }), ctx.connect({ max: 1 })];
  const results = await Promise.allSettled([
    one.begin(async (tx) => {
      await tx`SELECT pg_sleep(0.02)`;
      await addSubtask(tx, b.id, c.id);
    }),
    two.begin(async (tx) => {
      await tx`SELECT pg_sleep(0.02)`;
      await addSubtask(tx, d.id, a.id);
    }),
  ]);
  assertEquals(results.filter((r) => r.status === "fulfilled").length, 1);
});

dbTest("iterateTasks() goes on when the task its cursor points at is deleted", async (sql) => {
  const tasks = await createTasks(sql, Array.from({ length: 10 }, () => ({ action: "t" })));
  const seen: string[] = [];
  for await (const t of iterateTasks(sql, { pageSize: 3 })) {
    seen.push(t.id);
    // Delete each page's last task while the stream stands on it.
    if (seen.length % 3 === 0) await sql`DELETE FROM tasks WHERE id = ${t.id}`;
  }
  assertEquals(seen, tasks.map((t) => t.id));
});

dbTest("listTasks({after}) on a deleted task says so instead of an empty page", async (sql) => {
  const [a] = await createTasks(sql, [{ action: "t" }, { action: "t" }]);
  assertEquals((await listTasks(sql, { after: a.id })).length, 1);
  await sql`DELETE FROM tasks WHERE id = ${a.id}`;
  await assertRejects(() => listTasks(sql, { after: a.id }), NotFoundError);
});
