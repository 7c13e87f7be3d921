import {
  appendResultMessages,
  claimTasks,
  ConflictError,
  createTask,
  createTasks,
  getTask,
  iterateTasks,
  type Lease,
  listTasks,
  NotFoundError,
  NotLeaderError,
  type TaskEvent,
  updateTasks,
  ValidationError,
  watchTasks,
} from "../mod.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { countRows, dbTest } from "./_helpers.ts";

dbTest("createTasks() creates a batch in one statement, in the order given", async (sql, ctx) => {
  const parent = await createTask(sql, { action: "deploy_nodes" });
  ctx.statements.length = 0;
  const nodes = Array.from({ length: 50 }, (_, i) => `node${i}`);
  const tasks = await createTasks(
    sql,
    nodes.map((node) => ({
      action: "deploy_node",
      status: "queued" as const,
      parentTaskId: parent.id,
      nodeFilter: { node_names: [node] },
    })),
  );
  assertEquals(ctx.statements.length, 1);
  assertEquals(tasks.map((t) => (t.nodeFilter as { node_names: string[] }).node_names[0]), nodes);
  assertEquals((await getTask(sql, parent.id))?.subtaskIds, tasks.map((t) => t.id));
  for (const t of [tasks[0], tasks[49]]) {
    assertEquals(await getTask(sql, t.id, { messages: false }), t, "returned as stored");
  }
  const claimed = await claimTasks(sql, { limit: 50 });
  assertEquals(claimed.map((t) => t.id), tasks.map((t) => t.id), "claimed in creation order");
});

dbTest("createTasks() is all or none", async (sql) => {
  const existing = await createTask(sql, { action: "noop" });
  const before = await countRows(sql, ["tasks"]);
  const err = await assertRejects(
    () => createTasks(sql, [{ action: "noop" }, { action: "Bad" }, { action: 1 as never }]),
    ValidationError,
  );
  assertEquals(err.issues.map((i) => i.path), ["1.action", "2.action"]);
  await assertRejects(
    () => createTasks(sql, [{ action: "noop" }, { id: existing.id, action: "noop" }]),
    ConflictError,
  );
  const missing = crypto.randomUUID();
  const nf = await assertRejects(
    () => createTasks(sql, [{ action: "noop" }, { action: "noop", parentTaskId: missing }]),
    NotFoundError,
  );
  assertEquals(nf.id, missing);
  assertEquals(await countRows(sql, ["tasks"]), before);
  assertEquals(await createTasks(sql, []), []);
});

dbTest("appendResultMessages() appends to several tasks at once, all or none", async (sql, ctx) => {
  const [a, b] = await createTasks(sql, [{ action: "noop" }, { action: "noop" }]);
  ctx.statements.length = 0;
  const stored = await appendResultMessages(sql, [
    { taskId: a.id, message: "a1" },
    { taskId: b.id, message: "b1", error: true },
    { taskId: a.id, message: "a2", extra: { rc: 0 } },
  ]);
  assertEquals(ctx.statements.length, 1);
  assertEquals(stored.map((m) => [m.taskId, m.message]), [[a.id, "a1"], [b.id, "b1"], [
    a.id,
    "a2",
  ]]);
  assertEquals((await getTask(sql, a.id))?.messages?.map((m) => m.message), ["a1", "a2"]);
  assertEquals((await getTask(sql, b.id))?.result.errorCount, 1);
  const missing = crypto.randomUUID();
  const before = await countRows(sql, ["result_messages"]);
  const err = await assertRejects(
    () =>
      appendResultMessages(sql, [{ taskId: a.id, message: "x" }, {
        taskId: missing,
        message: "y",
      }]),
    NotFoundError,
  );
  assertEquals(err.id, missing);
  await assertRejects(
    () => appendResultMessages(sql, [{ taskId: a.id, message: 5 as never }]),
    ValidationError,
  );
  assertEquals(await countRows(sql, ["result_messages"]), before);
});

dbTest("iterateTasks() streams every task in pages, oldest first", async (sql, ctx) => {
  await sql`
    INSERT INTO tasks (id, action, status, created)
    SELECT gen_random_uuid(), 'noop', CASE WHEN i % 2 = 0 THEN 'queued' ELSE 'complete' END,
           clock_timestamp() + i * interval '1 millisecond'
    FROM generate_series(1, 2500) AS i`;
  const expected = (await sql`SELECT id FROM tasks WHERE status = 'queued' ORDER BY created, id`)
    .map((r) => r.id);
  ctx.statements.length = 0;
  const seen: string[] = [];
  for await (const t of iterateTasks(sql, { status: "queued", pageSize: 400 })) seen.push(t.id);
  assertEquals(seen, expected);
  assertEquals(
    ctx.statements.length,
    Math.ceil(expected.length / 400) + (expected.length % 400 ? 0 : 1),
  );
  assert(seen.length === 1250);
});

dbTest(
  "updateTasks() completes a claimed batch in one statement, all or none",
  async (sql, ctx) => {
    const created = await createTasks(
      sql,
      Array.from({ length: 20 }, () => ({ action: "deploy_node", status: "queued" as const })),
    );
    const batch = await claimTasks(sql, { limit: 20 });
    ctx.statements.length = 0;
    const ids = batch.map((t) => t.id).reverse().concat(batch[0].id); // a duplicate is ignored
    assertEquals(
      await updateTasks(sql, ids, { status: "complete", result: { status: "success" } }),
      20,
    );
    assertEquals(ctx.statements.length, 1);
    const done = await listTasks(sql, { limit: 100 });
    assert(
      done.every((t) =>
        t.status === "complete" && t.result.status === "success" && t.version === 3
      ),
    );
    const missing = crypto.randomUUID();
    await assertRejects(
      () => updateTasks(sql, [created[0].id, missing], { status: "queued" }),
      NotFoundError,
    );
    await assertRejects(() => updateTasks(sql, [missing], { status: "queued" }), NotFoundError);
    assertEquals(await updateTasks(sql, [created[1].id], { retry: 1 }), 1, "one task");
    await assertRejects(() => updateTasks(sql, ["x"], { status: "queued" }), ValidationError);
    assertEquals((await getTask(sql, created[0].id))?.status, "complete", "nothing written");
    assertEquals(await updateTasks(sql, [], { status: "queued" }), 0);
  },
);

dbTest("updateTasks() with a stale lease writes nothing", async (sql) => {
  const [t] = await createTasks(sql, [{ action: "noop", status: "running" }]);
  await sql`
    INSERT INTO leader_leases (election, holder, term, acquired_at, renewed_at, expires_at)
    VALUES ('default', 'b', 2, now(), now(), now() + interval '1 minute')`;
  const stale: Lease = { election: "default", holder: "a", term: 1, expiresAt: new Date() };
  await assertRejects(
    () => updateTasks(sql, [t.id], { status: "complete" }, { lease: stale }),
    NotLeaderError,
  );
  assertEquals((await getTask(sql, t.id))?.status, "running", "nothing written");
  const lease: Lease = { ...stale, holder: "b", term: 2 };
  assertEquals(await updateTasks(sql, [t.id], { status: "complete" }, { lease }), 1);
  assertEquals((await getTask(sql, t.id))?.status, "complete");
});

dbTest("watchTasks() reports every task of a batch and every claim of it", async (sql) => {
  const events: TaskEvent[] = [];
  const watch = await watchTasks(sql, (e) => {
    events.push(e);
  }, { pollMs: 10 });
  try {
    const tasks = await createTasks(
      sql,
      Array.from({ length: 120 }, () => ({ action: "deploy_node", status: "queued" as const })),
    );
    await claimTasks(sql, { limit: 120 });
    for (let i = 0; i < 250 && events.length < 240; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const ids = tasks.map((t) => t.id).sort();
    const created = events.filter((e) => e.kind === "created");
    assertEquals(created.map((e) => e.taskId).sort(), ids);
    assertEquals(events.filter((e) => e.status === "running").map((e) => e.taskId).sort(), ids);
    assertEquals(events.length, 240);
  } finally {
    await watch.unlisten();
  }
});
