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
import { dbTest } from "./_helpers.ts";
import { startProxy } from "./fault/_proxy.ts";
import {
  claimLeadership,
  claimNextTask,
  createTask,
  LeaderElector,
  type LeaderElectorEvent,
  migrate,
  readTaskEvents,
  rescueStaleTasks,
  type Sql,
  type TaskEvent,
  updateTask,
  watchTasks,
} from "../mod.ts";

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
function pool(url: string, max = 2, backoff: false | (() => number) = () => 0.2): Sql {
  return postgres(url, {
    max,
    onnotice: () => {},
    connect_timeout: 3,
    ...(backoff ? { backoff } : {}),
  });
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

    // Electors, each on its own pool, as two processes would be; pools with
    // postgres.js's default back-off, which the elector's own must not inherit.
    const log: { at: number; type: string; term: number | null; who: string }[] = [];
    for (const who of ["a", "b"]) {
      const sql = pool(cluster.url, 2, false);
      // postgres.js's LISTEN connection re-listens on its pool's back-off (and
      // its pending reconnect outlives end()): listen through a pool of the
      // program's that reconnects promptly, as README advises.
      const listenSql = pool(cluster.url, 1);
      pools.push(sql, listenSql);
      const e = new LeaderElector(sql, {
        identity: who,
        leaseMs: LEASE_MS,
        retryMs: RETRY_MS,
        listenSql,
      });
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
    // The server is back somewhere between these two: pg_ctl -w notices late.
    const starting = performance.now();
    await cluster.start();
    const up = performance.now();
    // Resuming reads the first page at once; its pool may first meet the
    // connection the shutdown killed (57P01): retry, as a restarted subscriber would.
    for (let attempt = 1;; attempt++) {
      try {
        watchB = await watchTasks(sqlB, (e) => void subB.push(e), { ...quiet, after: savedCursor });
        break;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(100);
      }
    }

    await until(
      `a leader after the outage (${JSON.stringify(log)})`,
      () => log.some((l) => l.type === "elected" && l.at > down),
      LEASE_MS + RETRY_MS + 5000,
    );
    const elected = log.find((l) => l.type === "elected" && l.at > down)!;
    // Counted from pg_ctl start, so that the server's own start-up time is inside the bound.
    const electedAfterMs = Math.round(elected.at - starting);
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
    // A pooled connection the shutdown killed while idle can still fail its
    // next statement once (ConnectionError, 57P01) after the return: retried
    // and counted. These fail before anything is sent, so a retry is safe.
    let staleErrors = 0;
    const retrying = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (let attempt = 1;; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (attempt >= 10) throw err;
          staleErrors++;
          await sleep(100);
        }
      }
    };
    // A claim whose answer was lost in the outage left its task running: rescue it.
    await retrying(() => rescueStaleTasks(admin, { staleAfterMs: 1 }));
    for (;;) {
      const task = await retrying(() => claimNextTask(work, { claimedBy: "worker" }));
      if (!task) break;
      await retrying(() =>
        updateTask(work, task.id, { status: "complete", result: { status: "success" } })
      );
      completed.set(task.id, (completed.get(task.id) ?? 0) + 1);
    }

    const rows = await retrying(() =>
      admin<{ id: string; status: string }[]>`SELECT id, status FROM tasks`
    );
    const ids = new Set(rows.map((r) => r.id));
    const all = await retrying(() => wholeLog(admin));
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
        `${electedAfterMs} ms after pg_ctl start (bound ${LEASE_MS + RETRY_MS + 1000} ms; ` +
        `pg_ctl -w returned after ${Math.round(up - starting)} ms); ` +
        `pools answering ${poolsBackMs} ms after (${staleErrors} stale-connection errors ` +
        `retried); down for ${Math.round(up - down)} ms; ` +
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
    const window = await retrying(() => wholeLog(admin, savedCursor));
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

dbTest(
  "a claim that commits after its answer was lost is adopted at the next attempt, not left to burn its term",
  async (sql, ctx) => {
    // An expired lease whose row the blocker locks: the elector's claim waits on it.
    await claimLeadership(sql, { identity: "old", leaseMs: 100 });
    await sleep(150);
    const blocker = ctx.connect({ max: 1 });
    const unblock = Promise.withResolvers<void>();
    const blocked = blocker.begin(async (tx) => {
      await tx`SELECT 1 FROM leader_leases FOR UPDATE`;
      await unblock.promise;
    });
    const target = new URL(ctx.url);
    const proxy = startProxy({ hostname: target.hostname, port: Number(target.port) });
    const proxied = postgres(proxy.url(ctx.url), { max: 1, onnotice: () => {} });
    const elector = new LeaderElector(proxied, {
      identity: "e",
      leaseMs: 6000,
      retryMs: 300,
      listen: false,
    });
    const errors: unknown[] = [];
    const elected: number[] = [];
    elector.addEventListener("error", (e: LeaderElectorEvent) => errors.push(e.error));
    elector.addEventListener("elected", (e: LeaderElectorEvent) => elected.push(e.lease!.term));
    try {
      const starting = elector.start();
      await until("the claim to wait on the lock", async () => {
        const [row] = await sql`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'statemgmt leader elector' AND wait_event_type = 'Lock'`;
        return row.n === 1;
      }, 5000);
      // The link goes down with the claim in flight; then the claim commits on the server.
      proxy.cut();
      await until("the claim's error", () => errors.length > 0, 5000);
      unblock.resolve();
      await blocked;
      await starting;
      // The orphaned backend commits once the lock is free (it notices the closed socket only then).
      await until("the lost claim to commit", async () => {
        const [row] = await sql`SELECT holder, term::int AS term FROM leader_leases`;
        return row.holder === "e" && row.term === 2;
      }, 3000);
      assertEquals(elector.isLeader, false);
      const healed = performance.now();
      proxy.heal();
      const lease = await elector.waitForLeadership(AbortSignal.timeout(3000));
      const ms = Math.round(performance.now() - healed);
      console.log(`lost claim adopted at term ${lease.term}, ${ms} ms after the link healed`);
      // Adopted: the very term the lost claim took, long before its 6 s lease ran out.
      assertEquals(lease.term, 2);
      assertEquals(elected, [2]);
      assert(ms < 2000, `adopted after ${ms} ms`);
    } finally {
      unblock.resolve();
      await blocked.catch(() => {});
      await elector.stop();
      await proxied.end({ timeout: 1 });
      await proxy.close();
    }
  },
);
