/**
 * One worker of the workload: claim a task, append a message, complete it,
 * every write fenced by the lease it claimed under, and every fenced write
 * stamped in the database with its term (a result message in the same
 * transaction, `extra: {term, op, worker}`) so the checker can order the
 * fenced writes by commit time. Each acknowledged write goes to the log.
 *
 * A write whose outcome is unknown (the connection dropped) is retried with
 * the same lease; a completion is read back first, so a retry never
 * completes a task twice. A `NotLeaderError` drops the task: the next
 * leader recovers it.
 *
 * @module
 */
import {
  appendResultMessage,
  assertLeadership,
  claimNextTask,
  completeAndClaimNext,
  getTask,
  type LeaderElector,
  type Lease,
  NotLeaderError,
  type Sql,
  type Task,
  updateTask,
} from "../../mod.ts";
import { type AckLog, errorFields } from "./ack_log.ts";
import { sleep } from "./child_config.ts";

/** What a worker needs. */
export interface WorkerContext {
  sql: Sql;
  elector: LeaderElector;
  log: AckLog;
  stopping: () => boolean;
}

/** A task held under the lease it was claimed with. */
interface Held {
  task: Task;
  lease: Lease;
}

const PATCH = (worker: string, term: number) => ({
  status: "complete" as const,
  result: { status: "success" as const, message: `completed by ${worker} at term ${term}` },
});

/** Runs worker `n` until told to stop. Even workers use completeAndClaimNext, odd ones two calls. */
export async function runWorker(ctx: WorkerContext, n: number): Promise<void> {
  const name = `w${n}`;
  let held: Held | null = null;
  let stage: "work" | "complete" = "work";
  let doubt = false; // the last completion attempt's outcome is unknown
  while (!ctx.stopping()) {
    const t0 = Date.now();
    let op = held ? stage : "claim";
    try {
      if (!held) {
        const lease = ctx.elector.lease;
        if (!lease) {
          await sleep(50);
          continue;
        }
        const task = await claim(ctx.sql, name, lease);
        if (task) {
          ctx.log.write({
            kind: "claim",
            t0,
            t1: Date.now(),
            task: task.id,
            term: lease.term,
            worker: name,
          });
        } else await sleep(25);
        held = task ? { task, lease } : null;
        stage = "work";
        continue;
      }
      if (stage === "work") {
        const seq = await work(ctx.sql, name, held);
        ctx.log.write({
          kind: "append",
          t0,
          t1: Date.now(),
          task: held.task.id,
          term: held.lease.term,
          seq,
          worker: name,
        });
        stage = "complete";
        continue;
      }
      if (doubt && await completedAlready(ctx.sql, held, name)) {
        op = "complete-readback";
        ctx.log.write({
          kind: "complete",
          t0,
          t1: Date.now(),
          task: held.task.id,
          term: held.lease.term,
          worker: name,
          readBack: true,
        });
        held = null;
        doubt = false;
        continue;
      }
      doubt = true;
      const next = n % 2 === 0
        ? await completeAndClaim(ctx.sql, name, held)
        : await completeOnly(ctx.sql, name, held);
      const t1 = Date.now();
      ctx.log.write({
        kind: "complete",
        t0,
        t1,
        task: held.task.id,
        term: held.lease.term,
        worker: name,
      });
      if (next) {
        ctx.log.write({
          kind: "claim",
          t0,
          t1,
          task: next.id,
          term: held.lease.term,
          worker: name,
        });
      }
      doubt = false;
      held = next ? { task: next, lease: held.lease } : null;
      stage = "work";
    } catch (err) {
      ctx.log.write({
        kind: "fail",
        t0,
        t1: Date.now(),
        op,
        worker: name,
        task: held?.task.id ?? null,
        ...errorFields(err),
      });
      if (err instanceof NotLeaderError) {
        held = null; // our term is over: the next leader recovers the task
        doubt = false;
      }
      await sleep(50);
    }
  }
}

/** Claims the next task under `lease` and stamps the claim with its term. */
function claim(sql: Sql, worker: string, lease: Lease): Promise<Task | null> {
  return sql.begin(async (tx) => {
    const task = await claimNextTask(tx, { lease, claimedBy: worker });
    if (task) await stamp(tx, task.id, lease, "claim", worker);
    return task;
  }) as Promise<Task | null>;
}

/** The work step: a fenced message on the task; returns its sequence. */
function work(sql: Sql, worker: string, h: Held): Promise<number> {
  return sql.begin(async (tx) => {
    await assertLeadership(tx, h.lease);
    return (await stamp(tx, h.task.id, h.lease, "work", worker)).sequence;
  }) as Promise<number>;
}

/** Completes the task and claims the next in one statement, both stamped. */
function completeAndClaim(sql: Sql, worker: string, h: Held): Promise<Task | null> {
  return sql.begin(async (tx) => {
    const next = await completeAndClaimNext(tx, h.task.id, PATCH(worker, h.lease.term), {
      lease: h.lease,
      claimedBy: worker,
    });
    await stamp(tx, h.task.id, h.lease, "complete", worker);
    if (next) await stamp(tx, next.id, h.lease, "claim", worker);
    return next;
  }) as Promise<Task | null>;
}

/** Completes the task with a fenced updateTask, stamped. */
async function completeOnly(sql: Sql, worker: string, h: Held): Promise<null> {
  await sql.begin(async (tx) => {
    await updateTask(tx, h.task.id, PATCH(worker, h.lease.term), { lease: h.lease });
    await stamp(tx, h.task.id, h.lease, "complete", worker);
  });
  return null;
}

/**
 * Whether our earlier completion attempt did commit: the task is complete
 * with our result message (a newer term may have recovered the task and
 * completed it since; that completion is not ours).
 */
async function completedAlready(sql: Sql, h: Held, worker: string): Promise<boolean> {
  const t = await getTask(sql, h.task.id);
  return t?.status === "complete" &&
    t.result.message === PATCH(worker, h.lease.term).result.message;
}

/** The term stamp: a result message in the fenced write's own transaction. */
function stamp(
  tx: Parameters<typeof appendResultMessage>[0],
  id: string,
  lease: Lease,
  op: string,
  worker: string,
) {
  return appendResultMessage(tx, id, {
    message: `${op} by ${worker} at term ${lease.term}`,
    context: worker,
    contextType: "ha",
    extra: { term: lease.term, op, worker },
  });
}
