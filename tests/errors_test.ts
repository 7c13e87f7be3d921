/**
 * Errors a caller can act on: a server that is down or a database that is
 * missing is a ConnectionError (code `unavailable`, password redacted, the
 * driver's error as cause); a schema that was never migrated is a
 * StateError `not_migrated` saying to run migrate(); a URL string or
 * another driver's pool where a postgres.js pool belongs is a TypeError at
 * the call. README's "When things go wrong" quotes these messages.
 */
import postgres from "postgres";
import {
  appendResultMessage,
  claimNextTask,
  ConnectionError,
  createTask,
  getTask,
  LeaderElector,
  migrate,
  migrationStatus,
  StateError,
  watchTasks,
} from "../mod.ts";
import type { Sql } from "../src/db.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { DATABASE_URL, withSchema } from "./_helpers.ts";

const PASSWORD = "hunter2-s3cret";
const UUID = "0b6c1b5e-5d1c-4c7e-9a43-7d1f0c5e2a10";

/** A loopback port nothing listens on: bound, then closed. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A pool that fails fast, as an operator's would with a short connect_timeout. */
function pool(url: string): Sql {
  return postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
}

Deno.test("server down: ConnectionError code unavailable, password redacted, cause kept", async () => {
  const url = `postgres://drydock:${PASSWORD}@127.0.0.1:${closedPort()}/drydock`;
  const sql = pool(url);
  try {
    for (const call of [() => getTask(sql, UUID), () => createTask(sql, { action: "noop" })]) {
      const err = await assertRejects(call, ConnectionError);
      assertEquals(err.code, "unavailable");
      assert(err instanceof StateError);
      assert(err.message.includes("ECONNREFUSED"), err.message);
      assert(!err.message.includes(PASSWORD), err.message);
      assertEquals((err.cause as { code?: string }).code, "ECONNREFUSED");
    }
    const err = await assertRejects(() => migrate(sql), ConnectionError);
    assertEquals(err.code, "unavailable");
  } finally {
    await sql.end();
  }
});

Deno.test("a password in a message is redacted", () => {
  const err = new ConnectionError(
    `cannot reach postgres://app:${PASSWORD}@db:5432/x?password=${PASSWORD}`,
  );
  assertEquals(err.message, "cannot reach postgres://app:***@db:5432/x?password=***");
});

Deno.test("missing database: ConnectionError code unavailable naming it", async () => {
  const url = new URL(DATABASE_URL);
  url.pathname = "/statemgmt_no_such_database";
  const sql = pool(url.toString());
  try {
    const err = await assertRejects(() => getTask(sql, UUID), ConnectionError);
    assertEquals(err.code, "unavailable");
    assert(err.message.includes('"statemgmt_no_such_database" does not exist'), err.message);
    assertEquals((err.cause as { code?: string }).code, "3D000");
    await assertRejects(() => migrationStatus(sql), ConnectionError);
  } finally {
    await sql.end();
  }
});

Deno.test("not migrated: StateError not_migrated saying to run migrate()", async () => {
  await withSchema(async (sql) => {
    const calls: [string, () => Promise<unknown>][] = [
      ["getTask", () => getTask(sql, UUID)],
      ["createTask", () => createTask(sql, { action: "noop" })],
      ["claimNextTask", () => claimNextTask(sql)],
      ["appendResultMessage", () => appendResultMessage(sql, UUID, { message: "m" })],
    ];
    for (const [name, call] of calls) {
      const err = await assertRejects(call, StateError);
      assertEquals(err.code, "not_migrated", name);
      assert(err.message.includes("run migrate(sql)"), err.message);
      assert(/table "(tasks|result_messages)"/.test(err.message), err.message);
    }
    assertEquals((await migrationStatus(sql)).applied, []);
  }, { migrate: false });
});

Deno.test("LeaderElector.start() on an unmigrated schema rejects instead of hanging", async () => {
  await withSchema(async (sql) => {
    const elector = new LeaderElector(sql, { leaseMs: 1000, retryMs: 100 });
    try {
      const err = await assertRejects(() => elector.start(), StateError);
      assertEquals(err.code, "not_migrated");
      assert(err.message.includes('"leader_leases"'), err.message);
      // Once migrated, the same elector starts and leads.
      await migrate(sql);
      await elector.start();
      assertEquals(
        (await elector.waitForLeadership(AbortSignal.timeout(5000))).holder,
        elector.identity,
      );
    } finally {
      await elector.stop();
    }
  }, { migrate: false });
});

Deno.test("a URL, nothing, or a node-postgres pool where a postgres.js pool belongs: TypeError", async () => {
  const nodePg = { connect() {}, query() {}, end() {} }; // the shape of pg.Pool
  const wrong: [unknown, string][] = [
    ["postgres://u:p@127.0.0.1/db", "a string (a connection URL?)"],
    [undefined, "undefined"],
    [nodePg, "a node-postgres client or pool"],
  ];
  for (const [value, got] of wrong) {
    const sql = value as Sql;
    for (
      const [name, call] of [
        ["migrate", () => migrate(sql)],
        ["migrationStatus", () => migrationStatus(sql)],
        ["watchTasks", () => watchTasks(sql, () => {})],
      ] as const
    ) {
      const err = await assertRejects(call, TypeError);
      assert(err.message.startsWith(`${name}: expected a postgres.js pool`), err.message);
      assert(err.message.endsWith(`got ${got}`), err.message);
    }
    let thrown: unknown;
    try {
      new LeaderElector(sql);
    } catch (err) {
      thrown = err;
    }
    assert(thrown instanceof TypeError && thrown.message.startsWith("LeaderElector: "));
  }
});
