/**
 * Leadership failover figures, next to Drydock's worst case (a 300 s grace
 * period plus a 30 s check: 330 s with no leader after a crash):
 *
 * - graceful `stop()` of the leader → another instance elected (three
 *   in-process electors, 10 s lease: the release and its NOTIFY do the work);
 * - SIGKILL of the leader process → another process elected, with a 2 s
 *   lease (the lease has to run out; target ≤ lease + retry + 100 ms).
 *
 * `scripts/bench.ts` calls {@linkcode benchLeadership}; run alone:
 * `deno run --allow-all bench/leadership.ts [--quick]` (uses `DATABASE_URL`,
 * migrating a throwaway schema).
 */
import postgres from "postgres";
import { LeaderElector, type LeaderElectorEvent } from "../src/leadership/elector.ts";
import { getLeader } from "../src/leadership/lease.ts";
import { Child, type ChildEvent, closeAll } from "../tests/fault/_children.ts";

export type { BenchRow } from "./_harness.ts";
import type { BenchRow } from "./_harness.ts";

/** Options of {@linkcode benchLeadership}. */
export interface BenchLeadershipOptions {
  /** Fewer handovers, for CI (about 20 s in all). */
  quick: boolean;
  /** A database URL whose `search_path` schema is migrated. */
  url: string;
}

/** Drydock's worst case: 300 s grace + 30 s between checks. */
const DRYDOCK_WORST_MS = 330_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

function stats(samples: number[]): Record<string, number> {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    n: s.length,
    p50: round(percentile(s, 0.5)),
    p95: round(percentile(s, 0.95)),
    max: round(s.at(-1)!),
    min: round(s[0]),
  };
}

function timeRow(
  name: string,
  figure: number,
  target: number,
  extra: Record<string, number>,
): BenchRow {
  return {
    name,
    opsPerSec: figure,
    baselineOpsPerSec: target,
    ratio: Math.round((target / Math.max(figure, 0.1)) * 100) / 100,
    unit: "ms",
    extra,
  };
}

/** The next `elected` event of any of `electors`. */
function nextElected(
  electors: LeaderElector[],
  timeoutMs: number,
): Promise<{ e: LeaderElector; at: number }> {
  const { promise, resolve, reject } = Promise.withResolvers<{ e: LeaderElector; at: number }>();
  const handlers = electors.map((e) => {
    const h = (_ev: LeaderElectorEvent) => finish(() => resolve({ e, at: performance.now() }));
    e.addEventListener("elected", h);
    return [e, h] as const;
  });
  const timer = setTimeout(() => finish(() => reject(new Error("no leader elected"))), timeoutMs);
  function finish(then: () => void) {
    clearTimeout(timer);
    for (const [e, h] of handlers) e.removeEventListener("elected", h);
    then();
  }
  return promise;
}

/** Graceful stop → new leader, in process, `n` times. */
async function gracefulFailover(url: string, n: number): Promise<number[]> {
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const options = { leaseMs: 10_000, election: "bench_graceful" };
  const electors: LeaderElector[] = [];
  const samples: number[] = [];
  try {
    for (let i = 0; i < 3; i++) electors.push(new LeaderElector(sql, options));
    await Promise.all(electors.map((e) => e.start()));
    for (let i = 0; i < n; i++) {
      const leader = electors.find((e) => e.isLeader) ??
        (await nextElected(electors, 30_000)).e;
      const others = electors.filter((e) => e !== leader);
      const next = nextElected(others, 30_000);
      const t0 = performance.now();
      await leader.stop();
      samples.push((await next).at - t0);
      // Replace the stopped instance, so three always take part.
      electors.splice(electors.indexOf(leader), 1);
      const fresh = new LeaderElector(sql, options);
      electors.push(fresh);
      await fresh.start();
    }
  } finally {
    await Promise.all(electors.map((e) => e.stop()));
    await sql.end({ timeout: 5 });
  }
  return samples;
}

/** SIGKILL of the leader process → a new leader, `n` times, with three processes. */
async function killFailover(
  url: string,
  n: number,
  timing: { leaseMs: number; renewMs: number; retryMs: number },
): Promise<number[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const children: Child[] = [];
  const all: Child[] = [];
  const samples: number[] = [];
  let generation = 0;
  const spawn = () => {
    const c = new Child(url, { identity: `k${generation++}`, ...timing, mode: "idle" });
    children.push(c);
    all.push(c);
    return c;
  };
  try {
    for (let i = 0; i < 3; i++) spawn();
    await Promise.all(children.map((c) => c.waitFor((e) => e.ev === "ready", 30_000)));
    for (let i = 0; i < n; i++) {
      let leader: Child | undefined;
      while (!leader) {
        const lease = await getLeader(sql);
        leader = children.find((c) => c.identity === lease?.holder);
        if (!leader) await new Promise((r) => setTimeout(r, 20));
      }
      // Kill at a random point of the renewal cycle.
      await new Promise((r) => setTimeout(r, Math.random() * timing.renewMs));
      const others = children.filter((c) => c !== leader);
      const marks = others.map((c) => c.events.length);
      const killedAt = Date.now();
      leader.kill("SIGKILL");
      const end = performance.now() + timing.leaseMs + timing.retryMs + 30_000;
      let elected: ChildEvent | undefined;
      while (!elected) {
        if (performance.now() > end) throw new Error("no new leader after a SIGKILL");
        await new Promise((r) => setTimeout(r, 5));
        elected = others.flatMap((c, j) => c.events.slice(marks[j])).find((e) =>
          e.ev === "elected"
        );
      }
      samples.push(elected.wall - killedAt);
      children.splice(children.indexOf(leader), 1);
      await leader.status;
      const fresh = spawn();
      await fresh.waitFor((e) => e.ev === "ready", 30_000);
    }
  } finally {
    await closeAll(all);
    await sql.end({ timeout: 5 });
  }
  return samples;
}

/**
 * Measures leader failover: graceful stop and SIGKILL, each over at least
 * 20 handovers (fewer in quick mode).
 *
 * @param opts Quick mode and the migrated database URL.
 * @returns One row per figure, times in ms against their targets.
 */
export async function benchLeadership(opts: BenchLeadershipOptions): Promise<BenchRow[]> {
  const graceful = stats(await gracefulFailover(opts.url, opts.quick ? 10 : 30));
  const timing = { leaseMs: 2000, renewMs: 500, retryMs: 500 };
  const killTarget = timing.leaseMs + timing.retryMs + 100;
  const killed = stats(await killFailover(opts.url, opts.quick ? 5 : 20, timing));
  const context = { drydockWorstMs: DRYDOCK_WORST_MS };
  return [
    timeRow("leader failover: graceful stop → new leader (p50)", graceful.p50, 50, {
      ...graceful,
      ...context,
    }),
    timeRow("leader failover: graceful stop → new leader (p95)", graceful.p95, 200, {
      ...graceful,
      ...context,
    }),
    timeRow("leader failover: SIGKILL → new leader, 2 s lease (max)", killed.max, killTarget, {
      ...killed,
      ...timing,
      ...context,
    }),
  ];
}

if (import.meta.main) {
  const base = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const schema = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const url = new URL(base);
  url.searchParams.set("search_path", schema);
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const { migrate } = await import("../src/migrate.ts");
    await migrate(sql);
    const rows = await benchLeadership({
      quick: Deno.args.includes("--quick"),
      url: url.toString(),
    });
    console.table(
      rows.map((r) => ({
        name: r.name,
        ms: r.opsPerSec,
        target: r.baselineOpsPerSec,
        ratio: r.ratio,
      })),
    );
    for (const r of rows) console.log(r.name, JSON.stringify(r.extra));
  } finally {
    await sql.end();
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}
