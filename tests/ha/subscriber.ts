/**
 * A workload child: a `watchTasks` subscriber that logs every event it is
 * given. The watch rides out the failover on its own (a failed read is
 * retried from the same cursor); after the first error of the outage the
 * subscriber also does what a consumer restarted by its supervisor would:
 * it stops the watch, drops its pool and starts again on a new pool from
 * the stored cursor. On SIGTERM it drains the log with `readTaskEvents` from
 * the same cursor, so the checker can compare what it saw with what the new
 * primary holds. It also polls `getLeader`, so the checker sees the lease's
 * term over time from the database's side.
 *
 * @module
 */
import { getLeader, readTaskEvents, type Sql, type TaskEvent, watchTasks } from "../../mod.ts";
import { type AckLog, errorFields, openAckLog } from "./ack_log.ts";
import { type ChildConfig, childConfig, openPool, sleep } from "./child_config.ts";

type Watch = Awaited<ReturnType<typeof watchTasks>>;

/** Logs one event (its cursor is kept in memory only: it is long). */
function logEvent(log: AckLog, e: TaskEvent): void {
  const t = Date.now();
  log.write({ kind: "event", t0: t, t1: t, task: e.taskId, ev: e.kind, status: e.status });
}

/** The subscription: one watch at a time, each on its own pool, resumed from the cursor. */
class Subscription {
  cursor: string | undefined;
  resumed = false;
  #watch: Watch | null = null;
  #sql: Sql | null = null;
  #resuming: Promise<void> | null = null;

  constructor(readonly config: ChildConfig, readonly log: AckLog) {}

  /** Starts a watch from `cursor` on a new pool, retrying until one starts. */
  async start(): Promise<void> {
    for (;;) {
      const t0 = Date.now();
      const sql = openPool(this.config, 2);
      try {
        this.#watch = await watchTasks(sql, (e) => {
          logEvent(this.log, e);
          this.cursor = e.cursor;
        }, { after: this.cursor, pollMs: 50, onError: (err) => this.#onError(err) });
        this.#sql = sql;
        this.cursor ??= this.#watch.cursor;
        return;
      } catch (err) {
        // A fresh pool each time: postgres.js keeps a failed LISTEN's promise
        // for its channel, so a retry on the same pool fails the same way.
        this.log.write({ kind: "fail", t0, t1: Date.now(), op: "watch", ...errorFields(err) });
        await sql.end({ timeout: 1 });
        await sleep(200);
      }
    }
  }

  #onError(err: unknown): void {
    const t = Date.now();
    this.log.write({ kind: "fail", t0: t, t1: t, op: "watch-read", ...errorFields(err) });
    if (this.resumed) return; // once per run: later errors are the watch's own to ride out
    this.resumed = true;
    this.#resuming = (async () => {
      await this.stop();
      this.log.write({ kind: "resume", t0: Date.now(), t1: Date.now() });
      await this.start();
    })();
  }

  /** Waits for a resume in progress. */
  async settled(): Promise<void> {
    await this.#resuming;
  }

  /** Stops the watch and its pool; `cursor` is then the one after the last event logged. */
  async stop(): Promise<void> {
    const w = this.#watch;
    const sql = this.#sql;
    this.#watch = null;
    this.#sql = null;
    if (w) {
      await w.unlisten();
      this.cursor = w.cursor;
    }
    await sql?.end({ timeout: 1 });
  }
}

/** Reads on from the cursor until a read comes back empty (bounded by the suite's grace). */
async function drain(sql: Sql, log: AckLog, cursor: string | undefined): Promise<void> {
  for (;;) {
    const t0 = Date.now();
    try {
      const page = await readTaskEvents(sql, { after: cursor, limit: 1000 });
      for (const e of page.events) logEvent(log, e);
      cursor = page.cursor;
      if (page.events.length === 0) return;
    } catch (err) {
      log.write({ kind: "fail", t0, t1: Date.now(), op: "drain", ...errorFields(err) });
      await sleep(200);
    }
  }
}

/** Logs the lease's term as the database holds it, every 200 ms. */
async function pollLeader(sql: Sql, log: AckLog, stopping: () => boolean): Promise<void> {
  while (!stopping()) {
    const t0 = Date.now();
    try {
      const l = await getLeader(sql, "ha");
      log.write({
        kind: "lease",
        t0,
        t1: Date.now(),
        term: l?.term ?? null,
        holder: l?.holder ?? null,
      });
    } catch {
      // the primary is away; the next poll tries again
    }
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const c = childConfig();
  const log = openAckLog(c.log);
  const sql = openPool(c, 2);
  let stopping = false;
  const stopped = new Promise<void>((r) => Deno.addSignalListener("SIGTERM", () => r()));
  const sub = new Subscription(c, log);
  await sub.start();
  const poller = pollLeader(sql, log, () => stopping);
  console.log("ready");
  await stopped;
  stopping = true;
  await sub.settled();
  await sub.stop();
  await drain(sql, log, sub.cursor);
  await poller;
  await sql.end({ timeout: 2 });
  log.close();
}

if (import.meta.main) await main();
