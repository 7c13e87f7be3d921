import {
  appendResultMessage,
  createTask,
  getTask,
  listResultMessages,
  listTasks,
  NotFoundError,
} from "../mod.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

dbTest(
  "8 writers on their own connections append 100 messages each: none lost, sequence strictly increasing",
  async (sql, ctx) => {
    const task = await createTask(sql, { action: "deploy_nodes" });
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const own = ctx.connect({ max: 1 });
      for (let i = 0; i < 100; i++) {
        await appendResultMessage(own, task.id, { message: `w${w} m${i}`, error: i % 10 === 0 });
      }
    }));
    const messages = (await getTask(sql, task.id))!.messages!;
    assertEquals(messages.length, 800);
    for (let i = 1; i < messages.length; i++) {
      assert(messages[i].sequence > messages[i - 1].sequence, `sequence at ${i} does not increase`);
    }
    assertEquals(new Set(messages.map((m) => m.message)).size, 800);
    for (let w = 0; w < 8; w++) {
      const own = messages.filter((m) => m.message.startsWith(`w${w} `)).map((m) => m.message);
      assertEquals(own, Array.from({ length: 100 }, (_, i) => `w${w} m${i}`), "per-writer order");
    }
    assertEquals((await getTask(sql, task.id))!.result.errorCount, 80);
  },
);

dbTest("listResultMessages() pages by sequence", async (sql) => {
  const task = await createTask(sql, { action: "noop" });
  for (let i = 0; i < 7; i++) await appendResultMessage(sql, task.id, { message: `m${i}` });
  const first = await listResultMessages(sql, task.id, { limit: 3 });
  assertEquals(first.map((m) => m.message), ["m0", "m1", "m2"]);
  const rest = await listResultMessages(sql, task.id, { afterSequence: first[2].sequence });
  assertEquals(rest.map((m) => m.message), ["m3", "m4", "m5", "m6"]);
  assertEquals(await listResultMessages(sql, crypto.randomUUID()), []);
});

dbTest(
  "appendResultMessage() keeps a given timestamp and defaults to the database clock",
  async (sql) => {
    const task = await createTask(sql, { action: "noop" });
    const ts = new Date("2020-01-02T03:04:05.678Z");
    const given = await appendResultMessage(sql, task.id, { message: "old", ts });
    assertEquals(given.ts, ts);
    const [{ now }] = await sql`SELECT clock_timestamp() AS now`;
    const auto = await appendResultMessage(sql, task.id, { message: "new" });
    assert(Math.abs(auto.ts.getTime() - now.getTime()) < 5000);
    await assertRejects(
      () => appendResultMessage(sql, crypto.randomUUID(), { message: "x" }),
      NotFoundError,
    );
  },
);

dbTest("getTask() with messages sends exactly one statement", async (sql, ctx) => {
  const task = await createTask(sql, { action: "noop" });
  for (let i = 0; i < 5; i++) await appendResultMessage(sql, task.id, { message: `m${i}` });
  ctx.statements.length = 0;
  const read = await getTask(sql, task.id, { messages: true });
  assertEquals(read?.messages?.length, 5);
  assertEquals(ctx.statements.length, 1, ctx.statements.join("\n---\n"));
});

dbTest(
  "listTasks() of 100 tasks with their messages sends at most two statements",
  async (sql, ctx) => {
    await sql`
    INSERT INTO tasks (id, action, status)
    SELECT gen_random_uuid(), 'deploy_node', 'queued' FROM generate_series(1, 100)`;
    await sql`
    INSERT INTO result_messages (task_id, message, error)
    SELECT id, 'm' || i, i % 3 = 0 FROM tasks, generate_series(1, 3) AS i`;
    ctx.statements.length = 0;
    const tasks = await listTasks(sql, { limit: 100, messages: true });
    assertEquals(tasks.length, 100);
    assert(tasks.every((t) => t.messages?.length === 3 && t.result.errorCount === 1));
    assert(ctx.statements.length <= 2, `${ctx.statements.length} statements`);
  },
);

dbTest(
  "appends to one task follow commit order: a reader paging by sequence never skips one",
  async (sql, ctx) => {
    const task = await createTask(sql, { action: "deploy_nodes" });
    const other = await createTask(sql, { action: "deploy_nodes" });
    const writer = ctx.connect({ max: 1 });
    let late = 0;
    let afterCommit: Promise<number> | undefined;
    await writer.begin(async (tx) => {
      late = (await appendResultMessage(tx, task.id, { message: "in a long transaction" }))
        .sequence;
      // Another append to the same task waits for this transaction to end…
      afterCommit = appendResultMessage(sql, task.id, { message: "after" }).then((m) => m.sequence);
      // …while appends to other tasks do not.
      await appendResultMessage(sql, other.id, { message: "elsewhere" });
      const settled = await Promise.race([
        afterCommit.then(() => "appended"),
        new Promise<string>((resolve) => setTimeout(() => resolve("waiting"), 300)),
      ]);
      assertEquals(settled, "waiting");
      // A reader now sees nothing past the last committed message.
      assertEquals(await listResultMessages(sql, task.id), []);
    });
    const after = await afterCommit!;
    assert(after > late, `the waiting append took ${after}, not after ${late}`);
    const read = await listResultMessages(sql, task.id);
    assertEquals(read.map((m) => m.message), ["in a long transaction", "after"]);
  },
);
