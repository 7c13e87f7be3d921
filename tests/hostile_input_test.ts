/**
 * Hostile input: text PostgreSQL cannot store (NUL, lone surrogates) in
 * every text field and inside JSON values and keys, JSON nested 2,000
 * deep, dates PostgreSQL cannot take as sent, 100,000-element batches and
 * SQL-injection strings. Each bad input is a ValidationError naming the
 * field, before any SQL (the tables are unchanged); injection strings are
 * stored as given and read back, never executed.
 */
import {
  appendResultMessage,
  appendResultMessages,
  claimLeadership,
  claimNextTask,
  claimTasks,
  createTask,
  createTasks,
  deleteTasksOlderThan,
  getBootActionContext,
  getLeader,
  getTask,
  insertBootAction,
  insertBuildData,
  LeaderElector,
  listBootActions,
  listBuildData,
  listTasks,
  newBootActionId,
  putBootActionContext,
  recordResult,
  requestTermination,
  rescueStaleTasks,
  updateTask,
  updateTasks,
  ValidationError,
} from "../mod.ts";
import type { Sql } from "../src/db.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { countRows, dbTest } from "./_helpers.ts";

const TABLES = [
  "tasks",
  "result_messages",
  "build_data",
  "boot_actions",
  "boot_action_statuses",
  "leader_leases",
  "task_events",
];

/** Strings PostgreSQL cannot store as given. */
const UNSTORABLE = {
  nul: "node\u000001",
  highSurrogate: "node\ud800",
  lowSurrogate: "\udc00node",
  reversedPair: "\udc00\ud800",
};

/** Strings that would do damage if they were ever spliced into SQL. */
const INJECTIONS = [
  "x'); DROP TABLE tasks; --",
  "'; DELETE FROM result_messages WHERE ''='",
  "$1; TRUNCATE leader_leases",
  '" OR 1=1 --',
  "\\'; SELECT pg_sleep(10); --",
];

const UUID = "0b6c1b5e-5d1c-4c7e-9a43-7d1f0c5e2a10";
const KEY = new Uint8Array(32).fill(7);

/** Asserts `fn` fails with a ValidationError whose first issue names `path`. */
async function refused(fn: () => unknown, path: string): Promise<ValidationError> {
  const err = await assertRejects(async () => await fn(), ValidationError);
  assertEquals(err.issues[0].path, path, err.message);
  assertEquals(err.code, "validation");
  return err;
}

/** Runs `body` and asserts that no table changed. */
async function writesNothing(sql: Sql, body: () => Promise<void>): Promise<void> {
  const before = await countRows(sql, TABLES);
  await body();
  assertEquals(await countRows(sql, TABLES), before);
}

/** Every text field of every public function, as `(sql, bad string) → call` and its path. */
function textFields(
  taskId: string,
): [string, (sql: Sql, s: string) => unknown][] {
  const action = newBootActionId();
  return [
    ["createdBy", (sql, s) => createTask(sql, { action: "noop", createdBy: s })],
    ["designRef", (sql, s) => createTask(sql, { action: "noop", designRef: s })],
    [
      "1.createdBy",
      (sql, s) => createTasks(sql, [{ action: "noop" }, { action: "a", createdBy: s }]),
    ],
    ["result.message", (sql, s) => updateTask(sql, taskId, { result: { message: s } })],
    ["result.reason", (sql, s) => updateTask(sql, taskId, { result: { reason: s } })],
    [
      "result.successes.1",
      (sql, s) => updateTask(sql, taskId, { result: { successes: ["a", s] } }),
    ],
    ["result.failures.0", (sql, s) => updateTasks(sql, [taskId], { result: { failures: [s] } })],
    ["designRef", (sql, s) => updateTask(sql, taskId, { designRef: s })],
    ["claimedBy", (sql, s) => claimNextTask(sql, { claimedBy: s })],
    ["claimedBy", (sql, s) => claimTasks(sql, { limit: 5, claimedBy: s })],
    ["by", (sql, s) => requestTermination(sql, taskId, { by: s })],
    ["by", (sql, s) => rescueStaleTasks(sql, { staleAfterMs: 1000, by: s })],
    ["successes.0", (sql, s) => recordResult(sql, taskId, { successes: [s] })],
    ["failures.0", (sql, s) => recordResult(sql, taskId, { failures: [s] })],
    ["links.0.rel", (sql, s) => recordResult(sql, taskId, { links: [{ rel: s, href: "h" }] })],
    ["links.0.href", (sql, s) => recordResult(sql, taskId, { links: [{ rel: "r", href: s }] })],
    ["message", (sql, s) => appendResultMessage(sql, taskId, { message: s })],
    ["context", (sql, s) => appendResultMessage(sql, taskId, { message: "m", context: s })],
    ["contextType", (sql, s) => appendResultMessage(sql, taskId, { message: "m", contextType: s })],
    ["0.message", (sql, s) => appendResultMessages(sql, [{ taskId, message: s }])],
    ["0.context", (sql, s) => appendResultMessages(sql, [{ taskId, message: "m", context: s }])],
    ["nodeName", (sql, s) => insertBuildData(sql, buildData({ nodeName: s }))],
    ["generator", (sql, s) => insertBuildData(sql, buildData({ generator: s }))],
    ["dataFormat", (sql, s) => insertBuildData(sql, buildData({ dataFormat: s }))],
    ["dataElement", (sql, s) => insertBuildData(sql, buildData({ dataElement: s }))],
    ["nodeName", (sql, s) => listBuildData(sql, { nodeName: s })],
    ["nodeName", (sql, s) => putBootActionContext(sql, { nodeName: s, taskId, identityKey: KEY })],
    ["nodeName", (sql, s) => getBootActionContext(sql, s)],
    ["nodeName", (sql, s) => listBootActions(sql, s)],
    ["nodeName", (sql, s) => insertBootAction(sql, bootAction(action, { nodeName: s }))],
    ["actionName", (sql, s) => insertBootAction(sql, bootAction(action, { actionName: s }))],
    ["identity", (sql, s) => claimLeadership(sql, { identity: s, leaseMs: 1000 })],
    ["election", (sql, s) => claimLeadership(sql, { election: s, identity: "i", leaseMs: 1000 })],
    ["election", (sql, s) => getLeader(sql, s)],
    ["identity", (sql, s) => new LeaderElector(sql, { identity: s })],
    ["election", (sql, s) => new LeaderElector(sql, { election: s })],
  ];
}

function buildData(over: Record<string, string> = {}) {
  return {
    nodeName: "node01",
    taskId: UUID,
    generator: "lshw",
    dataFormat: "text/plain",
    dataElement: "x",
    ...over,
  };
}

function bootAction(actionId: string, over: Record<string, string> = {}) {
  return {
    actionId,
    nodeName: "node01",
    actionName: "hello",
    taskId: UUID,
    identityKey: KEY,
    ...over,
  };
}

dbTest(
  "NUL and lone surrogates in every text field: ValidationError, nothing written",
  async (sql) => {
    const task = await createTask(sql, { action: "noop", status: "queued" });
    await writesNothing(sql, async () => {
      for (const [path, call] of textFields(task.id)) {
        for (const [kind, s] of Object.entries(UNSTORABLE)) {
          const err = await refused(() => call(sql, s), path);
          assert(
            /NUL|surrogate/.test(err.issues[0].message),
            `${path} (${kind}): ${err.issues[0].message}`,
          );
        }
      }
    });
    assertEquals((await getTask(sql, task.id))!.version, 1);
  },
);

/** Every JSON input, as `(sql, value) → call` and the field's path. */
function jsonFields(taskId: string): [string, (sql: Sql, v: unknown) => unknown][] {
  return [
    ["nodeFilter", (sql, v) => createTask(sql, { action: "noop", nodeFilter: v })],
    ["requestContext", (sql, v) => createTask(sql, { action: "noop", requestContext: v })],
    ["0.nodeFilter", (sql, v) => createTasks(sql, [{ action: "noop", nodeFilter: v }])],
    ["nodeFilter", (sql, v) => updateTask(sql, taskId, { nodeFilter: v })],
    ["requestContext", (sql, v) => updateTasks(sql, [taskId], { requestContext: v })],
    ["extra", (sql, v) => appendResultMessage(sql, taskId, { message: "m", extra: v })],
    ["0.extra", (sql, v) => appendResultMessages(sql, [{ taskId, message: "m", extra: v }])],
  ];
}

/** `depth` nested arrays and objects around a 1. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

dbTest(
  "JSON: NUL and lone surrogates in values and keys, 2,000 deep: ValidationError",
  async (sql) => {
    const task = await createTask(sql, { action: "noop" });
    await writesNothing(sql, async () => {
      for (const [path, call] of jsonFields(task.id)) {
        for (const s of Object.values(UNSTORABLE)) {
          await refused(() => call(sql, { nodes: ["ok", s] }), `${path}.nodes.1`);
          await refused(() => call(sql, { [s]: 1 }), path); // a key: named at its object
          await refused(() => call(sql, [{ deep: { [s]: true } }]), `${path}.0.deep`);
        }
        const err = await refused(() => call(sql, nested(2000)), path);
        assert(err.message.includes("64 levels"), err.message);
        await refused(() => call(sql, nested(65)), path);
      }
    });
    // 64 levels are fine, and stored as given.
    const ok = await createTask(sql, { action: "noop", nodeFilter: nested(64) });
    assertEquals((await getTask(sql, ok.id))!.nodeFilter, nested(64));
  },
);

dbTest("dates PostgreSQL cannot take as sent: ValidationError naming the field", async (sql) => {
  const task = await createTask(sql, { action: "noop" });
  const extremes = [
    new Date(8.64e15), // +275760-09-13, the last Date
    new Date(-8.64e15), // -271821-04-20, the first Date
    new Date("+010000-01-01T00:00:00Z"),
    new Date("0000-12-31T23:59:59.999Z"),
    new Date("0099-12-31T23:59:59.999Z"), // would be read back as 1999
    new Date(Date.UTC(-4713, 10, 24)), // PostgreSQL's first day, not sendable as ISO text
    new Date(NaN),
  ];
  await writesNothing(sql, async () => {
    for (const d of extremes) {
      await refused(() => deleteTasksOlderThan(sql, d), "cutoff");
      await refused(() => createTask(sql, { action: "noop", runAfter: d }), "runAfter");
      await refused(() => createTasks(sql, [{ action: "noop", runAfter: d }]), "0.runAfter");
      await refused(() => appendResultMessage(sql, task.id, { message: "m", ts: d }), "ts");
      await refused(
        () => appendResultMessages(sql, [{ taskId: task.id, message: "m", ts: d }]),
        "0.ts",
      );
      await refused(
        () => insertBuildData(sql, { ...buildData(), collectedDate: d }),
        "collectedDate",
      );
    }
  });
  // The bounds themselves are stored and read back exactly.
  for (const ts of [new Date("0100-01-01T00:00:00.000Z"), new Date("9999-12-31T23:59:59.999Z")]) {
    const m = await appendResultMessage(sql, task.id, { message: "edge", ts });
    assertEquals(m.ts, ts);
  }
});

dbTest(
  "100,000-element batches are refused by their caps: ValidationError, nothing written",
  async (sql) => {
    const task = await createTask(sql, { action: "noop" });
    const many = <T>(v: T): T[] => Array.from({ length: 100_000 }, () => v);
    await writesNothing(sql, async () => {
      await refused(() => createTasks(sql, many({ action: "noop" })), "");
      await refused(() => appendResultMessages(sql, many({ taskId: task.id, message: "m" })), "");
      await refused(() => updateTasks(sql, many(task.id), { retry: 1 }), "");
      await refused(() => recordResult(sql, task.id, { successes: many("n") }), "successes");
      await refused(
        () => recordResult(sql, task.id, { links: many({ rel: "r", href: "h" }) }),
        "links",
      );
      await refused(() => claimTasks(sql, { limit: 5, actions: many("noop") }), "actions");
      await refused(
        () => updateTask(sql, task.id, { result: { successes: many("n").concat("n") } }),
        "result.successes",
      );
    });
  },
);

dbTest("SQL-injection strings are stored as given and read back, never executed", async (sql) => {
  const before = await countRows(sql, TABLES);
  for (const s of INJECTIONS) {
    const t = await createTask(sql, {
      action: "noop",
      status: "queued",
      createdBy: s,
      designRef: s,
      nodeFilter: { [s]: [s] },
      requestContext: { q: s },
    });
    const claimed = await claimNextTask(sql, { claimedBy: s });
    assertEquals(claimed?.claimedBy, s);
    await updateTask(sql, t.id, {
      result: { message: s, reason: s, successes: [s], failures: [s] },
    });
    await recordResult(sql, t.id, { links: [{ rel: s, href: s }] });
    await appendResultMessage(sql, t.id, {
      message: s,
      context: s,
      contextType: s,
      extra: { [s]: s },
    });
    const done = await requestTermination(sql, t.id, { by: s });
    assertEquals(done.terminatedBy, s);
    const read = (await getTask(sql, t.id))!;
    assertEquals([read.createdBy, read.designRef, read.nodeFilter], [s, s, { [s]: [s] }]);
    assertEquals(read.result.message, s);
    assertEquals(read.result.successes, [s]);
    assertEquals(read.result.links, [{ rel: s, href: s }]);
    assertEquals(read.messages!.at(-1)!.context, s);
    assertEquals(read.messages!.at(-1)!.extra, { [s]: s });
    const nodeName = s.slice(0, 64);
    const bd = await insertBuildData(sql, buildData({ nodeName, generator: s, dataElement: s }));
    assertEquals((await listBuildData(sql, { nodeName }))[0], bd);
    await putBootActionContext(sql, { nodeName, taskId: t.id, identityKey: KEY });
    assertEquals((await getBootActionContext(sql, nodeName))?.taskId, t.id);
    await insertBootAction(sql, bootAction(newBootActionId(), { nodeName, actionName: s }));
    assertEquals(Object.keys(await listBootActions(sql, nodeName)), [s]);
    const lease = await claimLeadership(sql, { election: s, identity: s, leaseMs: 60_000 });
    assertEquals((await getLeader(sql, s))?.holder, lease?.holder);
  }
  // Format-checked fields refuse them before any SQL.
  for (const s of INJECTIONS) {
    await refused(() => createTask(sql, { action: s }), "action");
    await refused(() => listTasks(sql, { action: s }), "action");
    await refused(() => getTask(sql, s), "");
    await refused(() => claimNextTask(sql, { actions: [s] }), "actions.0");
    await refused(() => insertBootAction(sql, bootAction(s)), "actionId");
    await refused(
      () => updateTask(sql, UUID, {}, { expectedVersion: s as unknown as number }),
      "expectedVersion",
    );
  }
  const after = await countRows(sql, TABLES);
  // Every table still exists and holds exactly what the calls above wrote.
  assertEquals(after.tasks, before.tasks + INJECTIONS.length);
  assertEquals(after.result_messages, before.result_messages + INJECTIONS.length);
  assertEquals(after.leader_leases, INJECTIONS.length);
});
