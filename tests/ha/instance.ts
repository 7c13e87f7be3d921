/**
 * A workload child: one orchestrator instance, as production runs it — a
 * `LeaderElector` and four workers that work only while it leads. On each
 * election it recovers the tasks older terms left running. Elector events
 * (with the term and the time) and every acknowledged write go to its log.
 *
 * Run by the suite: `deno run -A tests/ha/instance.ts '<ChildConfig JSON>'`;
 * SIGTERM stops it (workers, then the elector, then the pool).
 *
 * @module
 */
import { LeaderElector, type LeaderElectorEvent, recoverTasks, type Sql } from "../../mod.ts";
import { type AckLog, errorFields, openAckLog } from "./ack_log.ts";
import { childConfig, openPool, sleep, terminated } from "./child_config.ts";
import { runWorker } from "./worker.ts";

/** The lease the instances run with: short, so each failover exercises a change of term. */
export const LEASE = { leaseMs: 3000, renewMs: 1000, retryMs: 500 };

/** Logs elections and demotions, and recovers orphans on each election. */
function watchElector(sql: Sql, elector: LeaderElector, log: AckLog, stopping: () => boolean) {
  elector.addEventListener("elected", (e: LeaderElectorEvent) => {
    const t = Date.now();
    log.write({ kind: "elected", t0: t, t1: t, identity: elector.identity, term: e.lease?.term });
    void recover(sql, elector, log, stopping);
  });
  elector.addEventListener("demoted", (e: LeaderElectorEvent) => {
    const t = Date.now();
    log.write({
      kind: "demoted",
      t0: t,
      t1: t,
      identity: elector.identity,
      term: e.lease?.term,
      reason: e.reason,
      ...(e.error ? errorFields(e.error) : {}),
    });
  });
  elector.addEventListener("error", (e: LeaderElectorEvent) => {
    const t = Date.now();
    log.write({
      kind: "elector-error",
      t0: t,
      t1: t,
      identity: elector.identity,
      ...errorFields(e.error),
    });
  });
}

/** recoverTasks under the lease just won, retried until it lands or the term ends. */
async function recover(sql: Sql, elector: LeaderElector, log: AckLog, stopping: () => boolean) {
  const lease = elector.lease;
  while (lease && !stopping() && elector.lease?.term === lease.term) {
    const t0 = Date.now();
    try {
      const tasks = await recoverTasks(sql, lease);
      log.write({
        kind: "recover",
        t0,
        t1: Date.now(),
        term: lease.term,
        tasks: tasks.map((t) => t.id),
      });
      return;
    } catch (err) {
      log.write({
        kind: "fail",
        t0,
        t1: Date.now(),
        op: "recover",
        term: lease.term,
        ...errorFields(err),
      });
      await sleep(100);
    }
  }
}

async function main(): Promise<void> {
  const c = childConfig();
  const log = openAckLog(c.log);
  const sql = openPool(c, 8);
  let stopping = false;
  const elector = new LeaderElector(sql, { election: "ha", identity: c.name, ...LEASE });
  watchElector(sql, elector, log, () => stopping);
  await elector.start();
  const ctx = { sql, elector, log, stopping: () => stopping };
  const workers = (c.workers ?? []).map((n) => runWorker(ctx, n));
  console.log("ready");
  await terminated();
  stopping = true;
  await Promise.all(workers);
  await elector.stop();
  await sql.end({ timeout: 2 });
  log.close();
}

if (import.meta.main) await main();
