/**
 * The leader-election step of `deno task demo`: three orchestrator
 * instances (electors) share the database; one leads and works the queue
 * with its lease; the demo stops it and shows the handover, the new term,
 * and a late write with the old lease being refused.
 *
 * Works on a server and on the embedded PGlite (no transaction is held
 * open while another connection is awaited; without NOTIFY the followers'
 * polling still hands over).
 */
import type { Sql } from "../src/db.ts";
import { NotLeaderError } from "../src/errors.ts";
import { LeaderElector } from "../src/leadership/elector.ts";
import type { Lease } from "../src/leadership/lease.ts";
import { claimNextTask, createTask, recoverTasks, updateTask } from "../src/tasks.ts";

/** The work a leader does with its lease; it should stop when `signal` aborts. */
export type LeaderWork = (lease: Lease, signal: AbortSignal) => Promise<void>;

/** What the demo measured. */
export interface DemoLeadershipResult {
  /** The first leader's term. */
  firstTerm: number;
  /** The term after the handover. */
  nextTerm: number;
  /** From `stop()` of the first leader to the next one being elected, in ms. */
  handoverMs: number;
}

const ELECTION = "demo";
const ACTION = "leader_demo";

/**
 * Runs the leader-election demo on `sql`'s database.
 *
 * @param sql A pool on a migrated database (its options are reused by each elector).
 * @param log Where the demo's lines go.
 * @param work What each leader does with its lease; by default it works
 *   `leader_demo` tasks the demo queues (two per leader), fenced by its lease.
 * @returns The terms and the handover time.
 */
export async function demoLeadership(
  sql: Sql,
  log: (line: string) => void,
  work?: LeaderWork,
): Promise<DemoLeadershipResult> {
  const lead = work ?? ((lease, signal) => workTasks(sql, lease, signal, log, 2));
  const electors = [1, 2, 3].map((i) =>
    new LeaderElector(sql, {
      election: ELECTION,
      identity: `orchestrator-${i}`,
      leaseMs: 10_000,
      retryMs: 2_000,
    })
  );
  for (const e of electors) {
    e.addEventListener("elected", (ev) => log(`${e.identity} elected, term ${ev.lease!.term}`));
    e.addEventListener("demoted", (ev) => log(`${e.identity} demoted (${ev.reason})`));
    e.addEventListener("error", (ev) => log(`${e.identity} error: ${(ev.error as Error).message}`));
  }
  try {
    if (!work) {
      for (let i = 0; i < 4; i++) await createTask(sql, { action: ACTION, status: "queued" });
      log("queued 4 leader_demo tasks");
    }
    log("three instances start; leases last 10 s, on the database clock");
    await Promise.all(electors.map((e) => e.start()));
    const first = await firstLeader(electors);
    const firstLease = first.lease!;
    log(`${first.identity} leads at term ${firstLease.term}; the others follow`);
    await lead(firstLease, first.signal);

    const others = electors.filter((e) => e !== first);
    const elected = Promise.race(others.map((e) => e.waitForLeadership().then(() => e)));
    const t0 = performance.now();
    log(`${first.identity} stops: it releases its lease (and NOTIFYs) before stop() resolves`);
    await first.stop();
    const next = await elected;
    const handoverMs = performance.now() - t0;
    const nextLease = next.lease!;
    log(
      `${next.identity} took over in ${handoverMs.toFixed(1)} ms at term ${nextLease.term} ` +
        `(Drydock: up to 330 s with no leader)`,
    );
    await staleWrite(sql, firstLease, log);
    await lead(nextLease, next.signal);
    return { firstTerm: firstLease.term, nextTerm: nextLease.term, handoverMs };
  } finally {
    await Promise.all(electors.map((e) => e.stop()));
  }
}

async function firstLeader(electors: LeaderElector[]): Promise<LeaderElector> {
  const ac = new AbortController();
  try {
    return await Promise.race(
      electors.map((e) => e.waitForLeadership(ac.signal).then(() => e)),
    );
  } finally {
    ac.abort(new Error("a leader was found"));
  }
}

/** The default work: recover orphans, then finish up to `n` queued demo tasks, fenced. */
async function workTasks(
  sql: Sql,
  lease: Lease,
  signal: AbortSignal,
  log: (line: string) => void,
  n: number,
): Promise<void> {
  const orphans = await recoverTasks(sql, lease);
  log(`  ${lease.holder} recovered ${orphans.length} task(s) left running by an older term`);
  for (let i = 0; i < n && !signal.aborted; i++) {
    const task = await claimNextTask(sql, { actions: [ACTION], lease });
    if (!task) break;
    await updateTask(sql, task.id, {
      status: "complete",
      result: { status: "success", message: `done at term ${lease.term}` },
    }, { lease });
    log(`  ${lease.holder} ran task ${task.id.slice(0, 8)} at term ${lease.term}`);
  }
}

/** Shows the fence: a write with the old leader's lease is refused. */
async function staleWrite(sql: Sql, stale: Lease, log: (line: string) => void): Promise<void> {
  try {
    await claimNextTask(sql, { actions: [ACTION], lease: stale });
    log(`  UNEXPECTED: a claim with term ${stale.term}'s lease went through`);
  } catch (err) {
    if (!(err instanceof NotLeaderError)) throw err;
    log(`  a late claim with term ${stale.term}'s lease is refused: ${err.name}`);
  }
}
