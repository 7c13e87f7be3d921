/**
 * The task-event log across real outages: a subscriber whose link is cut
 * for 2 s, and a PostgreSQL restart of a throwaway cluster, while a writer
 * keeps creating and updating tasks. After reconnecting the subscriber has
 * seen every committed event exactly once, in each task's order.
 */
import postgres from "postgres";
import { type TaskEvent, watchTasks } from "../src/events.ts";
import { createTask, updateTask } from "../src/tasks.ts";
import { migrate } from "../src/migrate.ts";
import type { Sql } from "../src/db.ts";
import { findPgBin, throwawayCluster } from "../scripts/_cluster.ts";
import { assert, assertEquals } from "./_assert.ts";
import { DATABASE_URL, dbTest } from "./_helpers.ts";
import { startProxy } from "./fault/_proxy.ts";
import { exactlyOnce, key, loggedKeys, sleep, statusesByTask, until } from "./_events_helpers.ts";

/**
 * Creates a queued task every ~10 ms and moves earlier ones on (running,
 * then complete), ignoring the errors of an outage: what was committed is
 * read back from the log afterwards. Returns `stop()`, which resolves with
 * the number of failed attempts.
 */
function startWriter(sql: Sql): { stop(): Promise<number> } {
  let writing = true;
  let failures = 0;
  const queued: string[] = [];
  const running: string[] = [];
  const loop = (async () => {
    while (writing) {
      try {
        const t = await createTask(sql, { action: "outage", status: "queued" });
        queued.push(t.id);
        if (queued.length > 3) {
          const id = queued.shift()!;
          await updateTask(sql, id, { status: "running" });
          running.push(id);
        }
        if (running.length > 3) await updateTask(sql, running.shift()!, { status: "complete" });
      } catch {
        failures++; // an outage; whether it committed, the log says
        await sleep(50);
      }
      await sleep(10);
    }
  })();
  return {
    async stop() {
      writing = false;
      await loop;
      return failures;
    },
  };
}

/**
 * Pools on `url`, ended together. A short reconnect back-off: postgres.js's
 * own (up to 20 s after repeated failures) can leave a reconnect timer
 * pending past end(), which the sanitizer reports, and would hold reads back.
 */
function pools(url: string): { pool(max?: number): Sql; endAll(): Promise<void> } {
  const all: Sql[] = [];
  return {
    pool(max = 2) {
      const p = postgres(url, { max, onnotice: () => {}, connect_timeout: 2, backoff: () => 0.05 });
      all.push(p);
      return p;
    },
    endAll: () => Promise.all(all.map((p) => p.end({ timeout: 1 }))).then(() => {}),
  };
}

function assertEachOnceInOrder(seen: TaskEvent[], logged: string[], what: string): void {
  assertEquals(exactlyOnce(seen.map(key), logged), null, what);
  for (const [task, statuses] of statusesByTask(seen)) {
    assertEquals(statuses, ["queued", "running", "complete"].slice(0, statuses.length), task);
  }
}

dbTest(
  "a subscriber whose link is cut for 2 s sees every event of the outage once after it heals",
  async (sql, ctx) => {
    const target = new URL(DATABASE_URL);
    const proxy = startProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
    const sub = postgres(proxy.url(ctx.url), { max: 2, onnotice: () => {}, connect_timeout: 1 });
    const seen: TaskEvent[] = [];
    const errors: unknown[] = [];
    let watch: Awaited<ReturnType<typeof watchTasks>> | undefined;
    try {
      watch = await watchTasks(sub, (e) => void seen.push(e), {
        pollMs: 20,
        onError: (err) => errors.push(err),
      });
      const writer = startWriter(sql);
      await sleep(700);
      // First the bytes stop (a read is left hanging, as on a dropped network),
      // then every connection is closed and new ones refused; 2 s in all.
      proxy.partition();
      const atCut = seen.length;
      await sleep(1000);
      proxy.cut();
      await sleep(1000);
      const duringCut = seen.length - atCut;
      proxy.heal();
      await sleep(700);
      const failures = await writer.stop();
      const logged = await loggedKeys(sql);
      await until(() => seen.length >= logged.length, 10_000, "the subscriber to catch up");
      await sleep(100);
      assertEachOnceInOrder(seen, logged, "after the cut");
      assertEquals(failures, 0, "the writer's own link was never cut");
      assert(duringCut <= 2, `${duringCut} events arrived through a cut link`);
      assert(errors.length > 0, "the read the cut broke was reported");
      console.log(
        `link cut 2 s: ${logged.length} events seen once, ${errors.length} read errors reported ` +
          `(first: ${(errors[0] as Error).message})`,
      );
    } finally {
      await watch?.unlisten();
      await sub.end({ timeout: 1 });
      await proxy.close();
    }
  },
);

const bin = await findPgBin();
if (!bin) {
  console.warn(
    "events_fault_test: no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under " +
      "/usr/lib/postgresql/*/bin: the restart test is skipped",
  );
}

Deno.test({
  name:
    "across a restart of the server, a watcher and one resumed from its cursor see each event once",
  ignore: bin === null,
}, async () => {
  const cluster = await throwawayCluster(bin!);
  const { pool, endAll } = pools(cluster.url);
  const watches: { unlisten(): Promise<void> }[] = [];
  try {
    const sql = pool(4);
    await migrate(sql);
    const seen: TaskEvent[] = [];
    const errors: unknown[] = [];
    const watch = await watchTasks(pool(), (e) => void seen.push(e), {
      pollMs: 20,
      onError: (err) => errors.push(err),
    });
    watches.push(watch);
    // A second subscriber that stops before the restart and resumes after it.
    const early: TaskEvent[] = [];
    const first = await watchTasks(pool(), (e) => void early.push(e), { pollMs: 20 });
    watches.push(first);
    const writer = startWriter(sql);
    await sleep(600);
    await first.unlisten();
    const stored = first.cursor;
    await cluster.stop();
    await sleep(500);
    await cluster.start();
    await sleep(700);
    const failures = await writer.stop();
    const resumed: TaskEvent[] = [];
    watches.push(await watchTasks(pool(), (e) => void resumed.push(e), { after: stored }));
    const logged = await loggedKeys(sql);
    await until(
      () => seen.length >= logged.length && early.length + resumed.length >= logged.length,
      10_000,
      "both subscribers to catch up",
    );
    await sleep(100);
    assertEachOnceInOrder(seen, logged, "the watch that lived through the restart");
    assertEachOnceInOrder([...early, ...resumed], logged, "the watch resumed from its cursor");
    assert(failures > 0 && errors.length > 0, `${failures} failed writes, ${errors.length} errors`);
    console.log(
      `restart: ${logged.length} events, each seen once by both; ${early.length} before the ` +
        `stored cursor; ${failures} writes and ${errors.length} reads failed during it`,
    );
  } finally {
    for (const w of watches) await w.unlisten();
    await endAll();
    await cluster.remove();
  }
});
