import {
  addSubtask,
  appendResultMessage,
  claimNextTask,
  createTask,
  getTask,
  listTasks,
  updateTask,
  ValidationError,
} from "../mod.ts";
import { assertEquals, assertRejects } from "./_assert.ts";
import { countRows, dbTest } from "./_helpers.ts";

const TABLES = ["tasks", "result_messages"];

/** Asserts `fn` throws a ValidationError naming exactly `paths`. */
async function rejects(fn: () => Promise<unknown>, paths: string[]): Promise<void> {
  const err = await assertRejects(fn, ValidationError);
  assertEquals(err.code, "validation");
  assertEquals(err.issues.map((i) => i.path).sort(), [...paths].sort());
  for (const p of paths) {
    if (p && !err.message.includes(p)) throw new Error(`message does not name ${p}`);
  }
}

// deno-lint-ignore no-explicit-any
const bad = (x: unknown): any => x;

dbTest(
  "createTask() refuses bad input with every bad field named, and writes nothing",
  async (sql) => {
    const before = await countRows(sql, TABLES);
    await rejects(() => createTask(sql, bad({})), ["action"]);
    await rejects(() => createTask(sql, bad({ action: 42, retry: "3" })), ["action", "retry"]);
    await rejects(() => createTask(sql, { action: "x'; DROP TABLE tasks; --" }), ["action"]);
    await rejects(() => createTask(sql, { action: "Deploy" }), ["action"]);
    await rejects(() => createTask(sql, { action: "a".repeat(65) }), ["action"]);
    await rejects(() => createTask(sql, bad({ action: "noop", status: "done" })), ["status"]);
    await rejects(() => createTask(sql, { action: "noop", id: "not-a-uuid" }), ["id"]);
    await rejects(() => createTask(sql, { action: "noop", parentTaskId: "1" }), ["parentTaskId"]);
    await rejects(
      () => createTask(sql, { action: "noop", createdBy: "x".repeat(300), designRef: "" }),
      ["createdBy", "designRef"],
    );
    await rejects(() => createTask(sql, { action: "noop", nodeFilter: () => 1 }), ["nodeFilter"]);
    await rejects(() => createTask(sql, bad({ action: "noop", colour: "red" })), [""]);
    assertEquals(await countRows(sql, TABLES), before);
  },
);

dbTest("updateTask() refuses a bad patch, and the task is unchanged", async (sql) => {
  const task = await createTask(sql, { action: "noop" });
  await rejects(() => updateTask(sql, task.id, bad({ status: "finished" })), ["status"]);
  await rejects(
    () => updateTask(sql, task.id, bad({ result: { status: "ok", successes: "n1" } })),
    ["result.status", "result.successes"],
  );
  await rejects(() => updateTask(sql, task.id, { retry: -1 }), ["retry"]);
  await rejects(() => updateTask(sql, "nope", { retry: 1 }), [""]);
  await rejects(
    () => updateTask(sql, task.id, { retry: 1 }, bad({ expectedVersion: "1" })),
    ["expectedVersion"],
  );
  assertEquals(await getTask(sql, task.id), { ...task, messages: [] });
});

dbTest("reads and other writes refuse bad ids and options before any SQL", async (sql, ctx) => {
  const before = await countRows(sql, TABLES);
  ctx.statements.length = 0;
  await rejects(() => getTask(sql, "123"), [""]);
  await rejects(() => listTasks(sql, bad({ limit: 0, status: "nope" })), ["limit", "status"]);
  await rejects(() => listTasks(sql, { after: "x" }), ["after"]);
  await rejects(() => claimNextTask(sql, { actions: ["OR 1=1"] }), ["actions.0"]);
  await rejects(() => addSubtask(sql, "a", "b"), ["parent", "child"]);
  await rejects(
    () => appendResultMessage(sql, crypto.randomUUID(), bad({ message: 1, error: "yes" })),
    ["message", "error"],
  );
  await rejects(
    () => appendResultMessage(sql, crypto.randomUUID(), { message: "x".repeat(70_000) }),
    ["message"],
  );
  assertEquals(ctx.statements, [], "no statement was sent");
  assertEquals(await countRows(sql, TABLES), before);
});
