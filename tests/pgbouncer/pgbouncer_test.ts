/**
 * What works behind PgBouncer in transaction mode, measured: run by
 * `deno task pgbouncer` (STATEMGMT_TEST_PGBOUNCER=1); ignored otherwise.
 * The figures printed here are the ones README's "Behind PgBouncer" quotes.
 */
import { assert, assertEquals } from "../_assert.ts";
import { BEHIND_PGBOUNCER, withSchema } from "../_helpers.ts";
import {
  claimLeadership,
  createTask,
  LeaderElector,
  type LeaderElectorEvent,
  leadershipChannel,
  releaseLeadership,
  type Sql,
  StateError,
  type TaskEvent,
  updateTask,
  watchTasks,
} from "../../mod.ts";

const ignore = !BEHIND_PGBOUNCER;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `min ${s[0]} ms, median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms`;
}

/** Hand-overs by stop(): the time from stop() until the other elector is elected, `rounds` times. */
async function handovers(
  pools: () => Sql,
  opts: { listenSql?: () => Sql; listen?: boolean },
  rounds: number,
): Promise<{ times: number[]; errors: unknown[] }> {
  const times: number[] = [];
  const errors: unknown[] = [];
  for (let i = 0; i < rounds; i++) {
    const electors = [0, 1].map((n) =>
      new LeaderElector(pools(), {
        identity: `e${i}-${n}`,
        leaseMs: 10_000,
        retryMs: 500,
        listen: opts.listen,
        listenSql: opts.listenSql?.(),
      })
    );
    try {
      for (const e of electors) {
        e.addEventListener("error", (ev: LeaderElectorEvent) => errors.push(ev.error));
      }
      for (const e of electors) await e.start();
      const leader = electors.find((e) => e.isLeader) ?? electors[0];
      await leader.waitForLeadership(AbortSignal.timeout(15_000));
      const other = electors.find((e) => e !== leader)!;
      await sleep(1200); // past the start-up probe
      const elected = other.waitForLeadership(AbortSignal.timeout(15_000));
      const t0 = performance.now();
      await leader.stop();
      await elected;
      times.push(Math.round(performance.now() - t0));
    } finally {
      await Promise.all(electors.map((e) => e.stop()));
    }
  }
  return { times, errors };
}

Deno.test({
  name: "behind PgBouncer: a LISTEN through it receives nothing, a direct one receives the release",
  ignore,
}, () =>
  withSchema(async (sql, ctx) => {
    const channel = await leadershipChannel(sql);
    const [pooled, direct] = [ctx.connect({ max: 1 }), ctx.connect({ max: 1, direct: true })];
    const got = { pooled: 0, direct: 0 };
    const subs = [
      await pooled.listen(channel, () => got.pooled++),
      await direct.listen(channel, () => got.direct++),
    ];
    try {
      const a = await claimLeadership(sql, { identity: "a", leaseMs: 60_000 });
      assert(a && await releaseLeadership(sql, a));
      await sleep(1000);
      assertEquals(got, { pooled: 0, direct: 1 });
    } finally {
      for (const s of subs) await s.unlisten();
    }
  }));

Deno.test({
  name: "behind PgBouncer: the elector's probe reports that LISTEN is deaf; polling hands over",
  ignore,
}, () =>
  withSchema(async (_sql, ctx) => {
    const { times, errors } = await handovers(() => ctx.connect({ max: 2 }), {}, 5);
    console.log(
      `elector behind PgBouncer, LISTEN through it, retryMs 500: hand-over ${stats(times)}`,
    );
    assert(
      errors.some((e) =>
        e instanceof StateError && e.code === "timeout" && /PgBouncer/.test(e.message)
      ),
      "the probe's error",
    );
    assert(Math.max(...times) <= 500 + 1000, `hand-overs ${times}`);
  }));

Deno.test({
  name: "behind PgBouncer: with listenSql, a direct pool, the hand-over is immediate",
  ignore,
}, () =>
  withSchema(async (_sql, ctx) => {
    const { times, errors } = await handovers(
      () => ctx.connect({ max: 2 }),
      { listenSql: () => ctx.connect({ max: 1, direct: true }) },
      5,
    );
    console.log(
      `elector behind PgBouncer, listenSql direct, retryMs 500: hand-over ${stats(times)}`,
    );
    assertEquals(errors, []);
    assert(Math.max(...times) < 250, `hand-overs ${times}`);
  }));

Deno.test({
  name: "behind PgBouncer: watchTasks with listen: false delivers every event once, by polling",
  ignore,
}, () =>
  withSchema(async (sql, ctx) => {
    const seen: TaskEvent[] = [];
    const at = new Map<string, number>();
    const lags: number[] = [];
    const watch = await watchTasks(ctx.connect({ max: 1 }), (e) => {
      seen.push(e);
      const t = at.get(`${e.taskId} ${e.status}`);
      if (t !== undefined) lags.push(Math.round(performance.now() - t));
    }, { listen: false, pollMs: 50, onError: (e) => console.error(e) });
    try {
      for (let i = 0; i < 20; i++) {
        const id = crypto.randomUUID();
        at.set(`${id} queued`, performance.now());
        await createTask(sql, { id, action: "bounce", status: "queued" });
        at.set(`${id} complete`, performance.now());
        await updateTask(sql, id, { status: "complete" });
      }
      const end = performance.now() + 5000;
      while (seen.length < 40 && performance.now() < end) await sleep(20);
      await sleep(200);
      console.log(
        `watchTasks behind PgBouncer, listen: false, pollMs 50: ${seen.length} events, lag ${
          stats(lags)
        }`,
      );
      assertEquals(seen.length, 40);
      assertEquals(new Set(seen.map((e) => e.cursor)).size, 40);
    } finally {
      await watch.unlisten();
    }
  }));
