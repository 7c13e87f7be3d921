/** The task-event log: what is logged, the gap-free reader (late commits, rollbacks,
 * resuming on fresh connections), pruning and expiry, the wake-up, and `watchTasks`. */
import postgres from "postgres";
import {
  deleteTaskEvents,
  pruneTaskEvents,
  readTaskEvents,
  type TaskEvent,
  taskEventsChannel,
  watchTasks,
} from "../src/events.ts";
import { decodeCursor } from "../src/events/cursor.ts";
import { currentTaskEventsCursor } from "../src/events/read.ts";
import { claimNextTask, createTask, createTasks, updateTask, updateTasks } from "../src/tasks.ts";
import { StateError, ValidationError } from "../src/errors.ts";
import { migrate } from "../src/migrate.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { connect, DATABASE_URL, dbTest } from "./_helpers.ts";
import {
  countNotifications,
  exactlyOnce,
  fillEvents,
  justAfter,
  key,
  loggedKeys,
  planScans,
  randomWriters,
  readToEnd,
  resumingReader,
  shape,
  sleep,
  statusesByTask,
  until,
} from "./_events_helpers.ts";

dbTest(
  "new tasks, changes of status and termination requests are logged with parent and action",
  async (sql) => {
    const start = (await readTaskEvents(sql)).cursor;
    const parent = await createTask(sql, { action: "deploy_nodes", status: "queued" });
    const child = await createTask(sql, { action: "deploy_node", parentTaskId: parent.id });
    await sql`UPDATE tasks SET status = 'running' WHERE id = ${parent.id}`;
    await sql`UPDATE tasks SET terminate = true WHERE id = ${parent.id}`;
    await sql`UPDATE tasks SET terminate = true, status = 'terminated' WHERE id = ${child.id}`;
    await sql`UPDATE tasks SET retry = 1, status = 'running' WHERE id = ${parent.id}`; // no change
    await sql`UPDATE tasks SET terminate = true WHERE id = ${parent.id}`; // already requested
    const { events } = await readToEnd(sql, start);
    assertEquals(shape(events), [
      ["created", parent.id, null, "deploy_nodes", "queued"],
      ["created", child.id, parent.id, "deploy_node", "requested"],
      ["status", parent.id, null, "deploy_nodes", "running"],
      ["termination_requested", parent.id, null, "deploy_nodes", "running"],
      ["termination_requested", child.id, parent.id, "deploy_node", "terminated"],
      ["status", child.id, parent.id, "deploy_node", "terminated"],
    ]);
    assert(events.every((e) => e.at instanceof Date && !isNaN(e.at.getTime())));
  },
);

dbTest(
  "resuming from any event's cursor yields exactly the later events, whatever the page size",
  async (sql) => {
    const start = (await readTaskEvents(sql)).cursor;
    const tasks = await createTasks(
      sql,
      Array.from({ length: 7 }, () => ({ action: "noop", status: "queued" as const })),
    );
    await updateTasks(sql, tasks.map((t) => t.id), { status: "running" });
    const { events: all } = await readToEnd(sql, start);
    assertEquals(all.length, 14);
    for (const limit of [1, 2, 3, 1000]) {
      const { events } = await readToEnd(sql, start, limit);
      assertEquals(events.map(key), all.map(key), `limit ${limit}`);
      for (const [k, e] of events.entries()) {
        const rest = await readToEnd(sql, e.cursor, limit);
        assertEquals(rest.events.map(key), all.slice(k + 1).map(key), `limit ${limit}, after ${k}`);
      }
    }
    // No `after`: from the oldest event kept.
    assertEquals((await readToEnd(sql)).events.map(key), all.map(key));
  },
);

dbTest("an event committed after a later one is read once it commits: B, then A", async (sql) => {
  const start = (await readTaskEvents(sql)).cursor;
  const seen: TaskEvent[] = [];
  const watch = await watchTasks(sql, (e) => void seen.push(e), { pollMs: 10 });
  const aWrote = Promise.withResolvers<void>();
  const aGo = Promise.withResolvers<void>();
  const a = crypto.randomUUID();
  const b = crypto.randomUUID();
  try {
    const txA = sql.begin(async (tx) => {
      await createTask(tx, { id: a, action: "first" });
      aWrote.resolve();
      await aGo.promise;
    });
    await aWrote.promise;
    await createTask(sql, { id: b, action: "second" }); // commits first
    const first = await readTaskEvents(sql, { after: start });
    assertEquals(first.events.map((e) => e.taskId), [b]);
    // (Read in one window, A and B would come in id order: A first.)
    await until(() => seen.length >= 1, 5000, "the watch to see B");
    aGo.resolve();
    await txA;
    const second = await readTaskEvents(sql, { after: first.cursor });
    assertEquals(second.events.map((e) => e.taskId), [a]);
    assertEquals((await readTaskEvents(sql, { after: second.cursor })).events, []);
    // A naive `id > last` reader would have missed A: its event has the smaller id.
    const [ids] = await sql`SELECT
      (SELECT id FROM task_events WHERE task_id = ${a}) < (SELECT id FROM task_events WHERE task_id = ${b}) AS a_first`;
    assert(ids.a_first);
    await until(() => seen.length >= 2, 5000, "the watch");
    assertEquals(seen.map((e) => e.taskId), [b, a]);
  } finally {
    aGo.resolve();
    await watch.unlisten();
  }
});

dbTest(
  "an event written before the reader's snapshot by a transaction above its xmax is not missed",
  async (sql) => {
    // C takes an xid first; A takes a later one and writes its event; C writes
    // and commits. The reader's snapshot then ends at C (xmax = C + 1): A is
    // running but not in the in-progress list, and its event id is below C's.
    const start = (await readTaskEvents(sql)).cursor;
    const step = Array.from({ length: 3 }, () => Promise.withResolvers<void>());
    const a = crypto.randomUUID();
    const c = crypto.randomUUID();
    let cXid = "";
    let aXid = "";
    const txC = sql.begin(async (tx) => {
      [{ x: cXid }] = await tx`SELECT pg_current_xact_id()::text AS x`;
      step[0].resolve();
      await step[1].promise;
      await createTask(tx, { id: c, action: "c" });
    });
    await step[0].promise;
    const txA = sql.begin(async (tx) => {
      await createTask(tx, { id: a, action: "a" });
      [{ x: aXid }] = await tx`SELECT pg_current_xact_id()::text AS x`;
      step[1].resolve();
      await step[2].promise;
    });
    try {
      await txC;
      const first = await readTaskEvents(sql, { after: start });
      assertEquals(first.events.map((e) => e.taskId), [c]);
      const [xmin, xmax, xip] = decodeCursor(first.cursor).p.split(":");
      assert(BigInt(aXid) >= BigInt(xmax), `A ${aXid} not above ${xmin}:${xmax}:${xip}`);
      assert(BigInt(cXid) < BigInt(aXid));
      step[2].resolve();
      await txA;
      const second = await readTaskEvents(sql, { after: first.cursor });
      assertEquals(second.events.map((e) => e.taskId), [a]);
    } finally {
      step.forEach((s) => s.resolve());
      await Promise.allSettled([txA, txC]);
    }
  },
);

dbTest(
  "randomized: 6 writers, 0–20 ms transactions, 10 % rolled back; a reader resuming on fresh connections sees each committed event once",
  async (sql, ctx) => {
    const start = (await readTaskEvents(sql)).cursor;
    const reader = resumingReader(ctx.schema, start);
    const rolledBack = await randomWriters(ctx.connect({ max: 6 }), 6, 2500).finally(reader.stop);
    const seen = await reader.drain();
    const logged = await loggedKeys(sql);
    assertEquals(exactlyOnce(seen.map(key), logged), null);
    assert(seen.every((e) => !rolledBack.has(e.taskId)), "an event of a rolled-back task");
    assert(rolledBack.size > 0 && logged.length > 100, `${logged.length} events`);
    for (const [task, statuses] of statusesByTask(seen)) {
      assertEquals(statuses, ["queued", "running", "complete"].slice(0, statuses.length), task);
    }
    console.log(
      `randomized: ${logged.length} events seen once over ${reader.reads()} reads on fresh ` +
        `connections, ${rolledBack.size} transactions rolled back`,
    );
  },
);

dbTest("behind a connection that cannot LISTEN, polling delivers every event", async (sql, ctx) => {
  const start = (await readTaskEvents(sql)).cursor;
  const noListen: TaskEvent[] = [];
  const deaf: TaskEvent[] = [];
  // As behind PgBouncer's transaction pooling: LISTEN succeeds, nothing arrives.
  const deafPool = ctx.connect({ max: 1 });
  Object.assign(deafPool, {
    listen: () => Promise.resolve({ state: {}, unlisten: () => Promise.resolve() }),
  });
  const errors: unknown[] = [];
  const w1 = await watchTasks(ctx.connect({ max: 1 }), (e) => void noListen.push(e), {
    listen: false,
    pollMs: 20,
    onError: (e) => errors.push(e),
  });
  const w2 = await watchTasks(deafPool, (e) => void deaf.push(e), {
    pollMs: 20,
    onError: (e) => errors.push(e),
  });
  try {
    for (let i = 0; i < 15; i++) {
      const t = await createTask(sql, { action: "bounce", status: "queued" });
      await updateTask(sql, t.id, { status: "running" });
      await updateTask(sql, t.id, { status: "complete" });
    }
    const logged = await loggedKeys(sql);
    await until(() => noListen.length >= 45 && deaf.length >= 45, 5000, "both watches");
    await sleep(60); // nothing more arrives
    assertEquals(exactlyOnce(noListen.map(key), logged), null);
    assertEquals(exactlyOnce(deaf.map(key), logged), null);
    assertEquals(exactlyOnce((await readToEnd(sql, start, 7)).events.map(key), logged), null);
    assertEquals(errors, []);
  } finally {
    await w1.unlisten();
    await w2.unlisten();
  }
});

dbTest(
  "a cursor from before a prune is refused with cursor_expired; one after it reads on",
  async (sql) => {
    const c0 = (await readTaskEvents(sql)).cursor;
    for (let i = 0; i < 3; i++) await createTask(sql, { action: "old" });
    const inWindow = (await readTaskEvents(sql, { after: c0, limit: 1 })).events[0].cursor;
    const c1 = (await readToEnd(sql, c0)).cursor;
    const [{ now: cutoff }] = await sql`SELECT clock_timestamp() AS now`;
    // justAfter(cutoff) is 1 ms later: the events written from here on must
    // come after it, or the last prune below finds the open one old enough
    // (seen on a quiet machine, where the next insert came within the ms).
    await sql`SELECT pg_sleep(0.01)`;
    const late = Promise.withResolvers<void>();
    const wrote = Promise.withResolvers<void>();
    // A transaction still open when pruning starts keeps its events, old or not.
    const open = sql.begin(async (tx) => {
      await createTask(tx, { action: "open" });
      wrote.resolve();
      await late.promise;
    });
    await wrote.promise;
    // Pruning waits for every older transaction of the cluster: another
    // test's may still be open, so prune until the three old events are gone.
    let n = 0;
    await until(
      async () => (n += await pruneTaskEvents(sql, justAfter(cutoff))) >= 3,
      5000,
      "prune",
    );
    late.resolve();
    await open;
    assertEquals(n, 3);
    for (const after of [c0, inWindow]) {
      const err = await assertRejects(() => readTaskEvents(sql, { after }), StateError);
      assertEquals(err.code, "cursor_expired");
    }
    const err = await assertRejects(() => watchTasks(sql, () => {}, { after: c0 }), StateError);
    assertEquals(err.code, "cursor_expired");
    await createTask(sql, { action: "new" });
    assertEquals((await readToEnd(sql, c1)).events.map((e) => e.action), ["open", "new"]);
    assertEquals((await readToEnd(sql)).events.map((e) => e.action), ["open", "new"]);
    assertEquals(await pruneTaskEvents(sql, justAfter(cutoff)), 0);
    assertEquals((await readToEnd(sql, c1)).events.length, 2, "an empty prune expires nothing");
  },
);

dbTest("deleteTaskEvents() deletes the events of the given tasks only", async (sql) => {
  const [a, b] = await createTasks(sql, [{ action: "a" }, { action: "b" }]);
  await updateTask(sql, a.id, { status: "queued" });
  assertEquals(await deleteTaskEvents(sql, [a.id, crypto.randomUUID()]), 2);
  assertEquals((await readToEnd(sql)).events.map((e) => e.taskId), [b.id]);
  assertEquals(await deleteTaskEvents(sql, []), 0);
  await assertRejects(() => deleteTaskEvents(sql, ["nope"]), ValidationError);
});

dbTest(
  "a read inside a writing transaction leaves its own events for after the commit",
  async (sql) => {
    const start = (await readTaskEvents(sql)).cursor;
    await createTask(sql, { action: "before" }); // a committed xid above ours would make ours "visible"
    let inside = "";
    await sql.begin(async (tx) => {
      await createTask(tx, { action: "mine" });
      await createTask(sql, { action: "other" }); // commits while ours is open
      const page = await readTaskEvents(tx, { after: start });
      assertEquals(page.events.map((e) => e.action), ["before", "other"]);
      inside = page.cursor;
    });
    assertEquals((await readToEnd(sql, inside)).events.map((e) => e.action), ["mine"]);
  },
);

dbTest(
  "the wake-up: one empty NOTIFY per statement that queues or requests termination, none for claims or completions",
  async (sql, ctx) => {
    const channel = await taskEventsChannel(sql);
    assertEquals(channel, `statemgmt_tasks:${ctx.schema}`);
    const listener = ctx.connect({ max: 1 });
    const got = await countNotifications(listener, channel);
    const since = () => got.since(sql);
    try {
      const t = await createTask(sql, { action: "a", status: "queued" });
      assertEquals(await since(), [""], "a queued insert");
      const batch = await createTasks(
        sql,
        Array.from({ length: 50 }, () => ({ action: "b", status: "queued" as const })),
      );
      assertEquals(await since(), [""], "50 queued in one statement");
      const requested = await createTasks(sql, [{ action: "c" }, { action: "c" }]);
      assertEquals(await since(), [], "requested tasks");
      const claimed = await claimNextTask(sql);
      assertEquals(claimed?.id, t.id);
      await updateTask(sql, t.id, { status: "complete" });
      await updateTasks(sql, batch.slice(0, 5).map((x) => x.id), { status: "running" });
      assertEquals(await since(), [], "claims and completions");
      await updateTasks(sql, requested.map((x) => x.id), { status: "queued" });
      assertEquals(await since(), [""], "two tasks becoming queued in one statement");
      await sql`UPDATE tasks SET terminate = true WHERE id = ${batch[0].id}`;
      assertEquals(await since(), [""], "a termination request");
    } finally {
      await got.stop();
    }
  },
);

Deno.test("a schema name of 60 bytes: writes, the hashed channel and watchTasks all work", async () => {
  const schema = `s${crypto.randomUUID().replaceAll("-", "")}`.padEnd(60, "x");
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  const sql = connect({ schema, max: 4 });
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    await migrate(sql);
    const channel = await taskEventsChannel(sql);
    const [{ md5 }] = await sql`SELECT md5(${schema}) AS md5`;
    assertEquals(channel, `statemgmt_tasks:${md5}`);
    const got = await countNotifications(sql, channel);
    const seen: TaskEvent[] = [];
    const watch = await watchTasks(sql, (e) => void seen.push(e));
    try {
      const t = await createTask(sql, { action: "long", status: "queued" });
      await updateTask(sql, t.id, { status: "running" });
      await sql`UPDATE tasks SET terminate = true WHERE id = ${t.id}`;
      await until(() => seen.length >= 3 && got.payloads.length >= 2, 5000, "events and wake-ups");
      assertEquals(seen.map((e) => e.kind), ["created", "status", "termination_requested"]);
      assertEquals(got.payloads, ["", ""]);
    } finally {
      await watch.unlisten();
      await got.stop();
    }
  } finally {
    await sql.end();
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
});

dbTest(
  "watchTasks(): from now, in order, one at a time; resumes from its cursor; a failing callback gets the event again",
  async (sql) => {
    await createTask(sql, { action: "before" });
    const seen: string[] = [];
    let active = 0;
    let failed = false;
    const errors: unknown[] = [];
    const watch = await watchTasks(sql, async (e) => {
      assertEquals(active++, 0, "one at a time");
      await sleep(2);
      active--;
      if (e.action === "flaky" && !failed) {
        failed = true;
        throw new Error("handler failed once");
      }
      seen.push(e.action);
    }, { pollMs: 10, onError: (err) => errors.push(err) });
    let cursor: string;
    try {
      for (const action of ["one", "flaky", "three"]) await createTask(sql, { action });
      await until(() => seen.length >= 3, 5000, "three events");
      assertEquals(seen, ["one", "flaky", "three"]);
      assertEquals(errors.map((e) => (e as Error).message), ["handler failed once"]);
    } finally {
      await watch.unlisten();
      cursor = watch.cursor;
    }
    await createTask(sql, { action: "while_away" });
    const resumed: string[] = [];
    const again = await watchTasks(sql, (e) => void resumed.push(e.action), { after: cursor });
    try {
      await createTask(sql, { action: "after" });
      await until(() => resumed.length >= 2, 5000, "resumed events");
      await sleep(30);
      assertEquals(resumed, ["while_away", "after"]);
    } finally {
      await again.unlisten();
    }
  },
);

dbTest(
  "watchTasks(): an aborted signal stops it; bad options are ValidationErrors",
  async (sql) => {
    const stop = new AbortController();
    const seen: TaskEvent[] = [];
    const watch = await watchTasks(sql, (e) => void seen.push(e), {
      signal: stop.signal,
      pollMs: 10,
    });
    await createTask(sql, { action: "one" });
    await until(() => seen.length === 1, 5000, "one event");
    stop.abort();
    await watch.unlisten(); // resolves once stopped, however often called
    await createTask(sql, { action: "two" });
    await sleep(50);
    assertEquals(seen.length, 1);
    await assertRejects(() => watchTasks(sql, () => {}, { signal: stop.signal }), DOMException);
    for (const opts of [{ pollMs: 0 }, { limit: 10_001 }, { after: "v1.nope" }, { listen: "no" }]) {
      await assertRejects(() => watchTasks(sql, () => {}, opts as never), ValidationError);
    }
  },
);

dbTest("readTaskEvents() refuses a malformed cursor or limit before any SQL", async (sql, ctx) => {
  const b64 = (v: unknown) => "v1." + btoa(JSON.stringify(v)).replace(/=+$/, "");
  const bad = [
    "",
    "nope",
    "v1.",
    "v1.!!!",
    b64([1, 2]),
    b64(["5:3:", "0"]), // xmin above xmax
    b64(["3:9:7,5", "0"]), // in-progress list out of order
    b64(["3:9:", "-1"]),
    b64(["3:9:", "0"]) + ".12", // a window id without a window
    b64(["3:9:", "0", "3:5:", "0", "0"]) + ".1", // a window that ends before it starts
  ];
  ctx.statements.length = 0;
  for (const after of bad) {
    const err = await assertRejects(() => readTaskEvents(sql, { after }), ValidationError);
    assertEquals(err.issues[0].path, "after", after);
  }
  for (const limit of [0, 10_001, 1.5]) {
    await assertRejects(() => readTaskEvents(sql, { limit }), ValidationError);
  }
  await assertRejects(() => pruneTaskEvents(sql, new Date("x")), ValidationError);
  assertEquals(ctx.statements, []);
});

dbTest(
  "with 1,000,000 events in the log an empty poll is index-backed (custom and generic plans)",
  async (sql, ctx) => {
    await fillEvents(sql, 1_000_000);
    // A transaction left open with an event, so the in-progress part of the read runs too.
    const wrote = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const open = sql.begin(async (tx) => {
      await createTask(tx, { action: "open" });
      wrote.resolve();
      await release.promise;
    });
    try {
      await wrote.promise;
      let cursor = await currentTaskEventsCursor(sql);
      await createTask(sql, { action: "late" });
      const times: number[] = [];
      ctx.calls.length = 0;
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        cursor = (await readTaskEvents(sql, { after: cursor })).cursor;
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      console.log(
        `empty poll, 1M events: p50 ${times[100].toFixed(2)} ms, min ${times[0].toFixed(2)}`,
      );
      const polls = ctx.calls.splice(0);
      // And a page inside a window: one event of two.
      release.resolve();
      await open;
      await createTask(sql, { action: "next" });
      const page = await readTaskEvents(sql, { after: cursor, limit: 1 });
      await readTaskEvents(sql, { after: page.events[0].cursor, limit: 1 });
      const reads = (calls: typeof polls) =>
        calls.filter((c) => c.query.includes("task_events_pruned"));
      const statements = [...reads(polls).slice(0, 2), reads(polls).at(-1)!, ...reads(ctx.calls)];
      assertEquals(statements.length, 5);
      for (const mode of ["auto", "force_generic_plan"]) {
        for (const { query, params } of statements) {
          const nodes = await planScans(ctx.connect({ max: 1 }), query, params, mode);
          const onEvents = nodes.filter((n) => n.endsWith(" on task_events"));
          assertEquals(onEvents.filter((n) => n.startsWith("Seq Scan")), [], `${mode}:\n${nodes}`);
          assert(onEvents.some((n) => n.includes("Index Scan")), `${mode}:\n${nodes}`);
        }
      }
      assert(times[100] < 5, `empty poll p50 ${times[100]} ms`);
    } finally {
      release.resolve();
      await open;
    }
  },
);
