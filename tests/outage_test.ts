/**
 * A 5 s PostgreSQL outage, for real: a throwaway cluster of this test's own
 * (initdb/pg_ctl), stopped with `pg_ctl -m fast` (every session terminated,
 * new connections refused) under a producer, a worker loop (claim,
 * complete), two electors and two `watchTasks` subscribers, then started
 * again on the same port. Skipped where no PostgreSQL binaries are found.
 */
import postgres from "postgres";
import { assert, assertEquals } from "./_assert.ts";
import { type Cluster, findPgBin, throwawayCluster } from "../scripts/_cluster.ts";
import {
  claimNextTask,
  createTask,
  LeaderElector,
  type LeaderElectorEvent,
  migrate,
  rescueStaleTasks,
  type Sql,
  updateTask,
} from "../mod.ts";
// The durable event log (src/events/), not yet re-exported by mod.ts.
import { readTaskEvents, type TaskEvent, watchTasks } from "../src/events.ts";

const LEASE_MS = 3000;
const RETRY_MS = 500;
const OUTAGE_MS = 5000;
const bin = await findPgBin();

/**
 * A program's pool. Its reconnect back-off is short: postgres.js's default
 * grows to 20 s over the failed attempts of an outage, which is the
 * program's choice to make, not the module's (the elector's own pool never
 * inherits it).
 */
function pool(url: string, max = 2): Sql {
  return postgres(url, { max, onnotice: () => {}, connect_timeout: 3, backoff: () => 0.2 });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean | Promise<boolean>, withinMs: number) {
  const end = performance.now() + withinMs;
  while (!(await ok())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Every event in the log after `after` (from the oldest without it), in order. */
async function wholeLog(sql: Sql, after?: string): Promise<TaskEvent[]> {
  const out: TaskEvent[] = [];
  for (;;) {
    const page = await readTaskEvents(sql, { after, limit: 1000 });
    out.push(...page.events);
    after = page.cursor;
    if (page.events.length < 1000) return out;
  }
}

const key = (e: TaskEvent) => `${e.taskId} ${e.kind} ${e.status} ${e.at.toISOString()}`;

Deno.test({
  name: "a 5 s outage: pools recover, a leader at a higher term within lease + retry + 1 s " +
    "of the server's return, no task lost or done twice, subscribers see every event once",
  ignore: bin === null,
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  const started = performance.now();
  let cluster: Cluster | null = null;
  const pools: Sql[] = [];
  const electors: LeaderElector[] = [];
  const stops: (() => Promise<void>)[] = [];
  let running = true;
  const loops: Promise<void>[] = [];
  try {
    cluster = await throwawayCluster(bin!);
    const admin = pool(cluster.url);
    pools.push(admin);
    await migrate(admin);

    // Electors, each on its own pool, as two processes would be.
    const log: { at: number; type: string; term: number | null; who: string }[] = [];
    for (const who of ["a", "b"]) {
      const sql = pool(cluster.url);
      pools.push(sql);
      const e = new LeaderElector(sql, { identity: who, leaseMs: LEASE_MS, retryMs: RETRY_MS });
      for (const type of ["elected", "demoted"] as const) {
        e.addEventListener(type, (ev: LeaderElectorEvent) => {
          log.push({ at: performance.now(), type, term: ev.lease?.term ?? null, who });
        });
      }
      e.addEventListener("error", () => {});
      electors.push(e);
      await e.start();
    }
    await until("a first leader", () => electors.some((e) => e.isLeader), 5000);
    const termBefore = Math.max(...log.filter((l) => l.type === "elected").map((l) => l.term!));

    // Subscribers: A watches throughout; B stops when the server does and resumes from its cursor.
    const subA: TaskEvent[] = [], subB: TaskEvent[] = [];
    const sqlA = pool(cluster.url), sqlB = pool(cluster.url);
    pools.push(sqlA, sqlB);
    const quiet = { pollMs: 50, onError: () => {} };
    // No task exists yet: "from the moment of subscribing" is the whole log.
    const watchA = await watchTasks(sqlA, (e) => void subA.push(e), quiet);
    stops.push(() => watchA.unlisten());
    let watchB = await watchTasks(sqlB, (e) => void subB.push(e), quiet);
    stops.push(() => watchB.unlisten());

    // Producer: a task every 20 ms. An id whose create failed may or may not exist.
    const acked = new Set<string>(), maybe = new Set<string>();
    const work = pool(cluster.url, 4);
    pools.push(work);
    loops.push((async () => {
      while (running) {
        const id = crypto.randomUUID();
        try {
          await createTask(work, { id, action: "outage", status: "queued" });
          acked.add(id);
        } catch {
          maybe.add(id);
          await sleep(100);
        }
        await sleep(20);
      }
    })());
    // Worker: claim, complete; a completion that failed is retried until it lands.
    const completed = new Map<string, number>();
    loops.push((async () => {
      while (running) {
        try {
          const task = await claimNextTask(work, { claimedBy: "worker" });
          if (!task) {
            await sleep(20);
            continue;
          }
          for (;;) {
            try {
              await updateTask(work, task.id, {
                status: "complete",
                result: { status: "success" },
              });
              break;
            } catch {
              await sleep(100);
            }
          }
          completed.set(task.id, (completed.get(task.id) ?? 0) + 1);
        } catch {
          await sleep(100);
        }
      }
    })());

    await sleep(1500);
    await cluster.stop();
    const down = performance.now();
    await watchB.unlisten();
    const savedCursor = watchB.cursor; // as a subscriber that went down with the server would have
    const seenBeforeB = subB.length;
    await sleep(OUTAGE_MS);
    await cluster.start();
    const up = performance.now();
    watchB = await watchTasks(sqlB, (e) => void subB.push(e), { ...quiet, after: savedCursor });

    await until(
      "a leader after the outage",
      () => log.some((l) => l.type === "elected" && l.at > up),
      LEASE_MS + RETRY_MS + 5000,
    );
    const elected = log.find((l) => l.type === "elected" && l.at > up)!;
    const electedAfterMs = Math.round(elected.at - up);
    await until("the pools to work again", async () => {
      try {
        await Promise.all(pools.map((p) => p`SELECT 1`));
        return true;
      } catch {
        return false;
      }
    }, 5000);
    const poolsBackMs = Math.round(performance.now() - up);
    await sleep(1000);
    running = false;
    await Promise.all(loops);
    // A claim whose answer was lost in the outage left its task running: rescue it.
    await rescueStaleTasks(admin, { staleAfterMs: 1 });
    running = true;
    const drain = (async () => {
      while (running) {
        const task = await claimNextTask(work, { claimedBy: "worker" });
        if (!task) break;
        await updateTask(work, task.id, { status: "complete", result: { status: "success" } });
        completed.set(task.id, (completed.get(task.id) ?? 0) + 1);
      }
    })();
    await drain;

    const rows = await admin<{ id: string; status: string }[]>`SELECT id, status FROM tasks`;
    const ids = new Set(rows.map((r) => r.id));
    const all = await wholeLog(admin);
    await until(
      "the subscribers to catch up",
      () => subA.length >= all.length && subB.length >= all.length,
      10_000,
    );
    await sleep(200); // anything more would be a duplicate

    console.log(
      `outage: ${acked.size} tasks created (${maybe.size} creates failed in the outage, ` +
        `${[...maybe].filter((id) => ids.has(id)).length} of them committed), ` +
        `${all.length} events; leader term ${termBefore} → ${elected.term} (${elected.who}) ` +
        `${electedAfterMs} ms after the server was back (bound ${
          LEASE_MS + RETRY_MS + 1000
        } ms); ` +
        `pools answering ${poolsBackMs} ms after; down for ${Math.round(up - down)} ms; ` +
        `whole test ${Math.round((performance.now() - started) / 1000)} s`,
    );
    // A leader at a higher term, on the elector's own clock.
    assert(electedAfterMs <= LEASE_MS + RETRY_MS + 1000, `elected ${electedAfterMs} ms after`);
    assert(elected.term! > termBefore, `term ${elected.term} after ${termBefore}`);
    assertEquals(electors.filter((e) => e.isLeader).length, 1);
    // Nothing lost, nothing done twice.
    for (const id of acked) assert(ids.has(id), `task ${id} was lost`);
    assertEquals(rows.filter((r) => r.status !== "complete"), []);
    assertEquals([...completed.values()].filter((n) => n > 1), []);
    assertEquals(completed.size, rows.length);
    // Every event once, in the log's order, to both subscribers.
    assertEquals(subA.map(key), all.map(key));
    assertEquals(subB.map(key), all.map(key));
    // B, resumed from its cursor, saw exactly the events after it: the outage window's.
    const window = await wholeLog(admin, savedCursor);
    assert(window.length > 0, "events after B's cursor");
    assertEquals(subB.slice(seenBeforeB).map(key), window.map(key));
  } finally {
    running = false;
    await Promise.allSettled(loops);
    await Promise.allSettled(stops.map((s) => s()));
    await Promise.allSettled(electors.map((e) => e.stop()));
    await Promise.allSettled(pools.map((p) => p.end({ timeout: 1 })));
    await cluster?.remove();
  }
});
