/**
 * A child process for the leadership fault tests and the soak: one
 * orchestrator instance with its own connections. It runs a
 * {@linkcode LeaderElector} and, while it leads, works in one of two modes:
 *
 * - `writes`: takes the lease, "works" for `workMs`, then makes a fenced
 *   write to `fault_log` with the lease it took (a stale writer on purpose:
 *   it does not stop on the abort signal, so the database fence is what
 *   keeps a late write out);
 * - `tasks`: recovers orphaned tasks, claims queued ones with its lease,
 *   works on each for `workMs` (again ignoring the signal), then completes
 *   it with a fenced update and a `finish_log` row in one transaction.
 *
 * - `both`: the two at once.
 *
 * Config: `DATABASE_URL` (schema-scoped) and `CHILD_CONFIG` (JSON, see
 * {@linkcode ChildConfig}). It prints one JSON event per line on stdout and
 * stops gracefully on a `stop` line on stdin.
 */
import postgres from "postgres";
import { LeaderElector } from "../../src/leadership/elector.ts";
import { assertLeadership, type Lease } from "../../src/leadership/lease.ts";
import { claimTasks, recoverTasks, updateTask } from "../../src/tasks.ts";
import { NotLeaderError } from "../../src/errors.ts";

/** What the child is told. */
export interface ChildConfig {
  identity: string;
  leaseMs: number;
  renewMs?: number;
  retryMs?: number;
  listen?: boolean;
  mode: "idle" | "writes" | "tasks" | "both";
  workMs?: number;
  /** Tasks claimed at once in `tasks` mode. */
  batch?: number;
}

const config: ChildConfig = JSON.parse(Deno.env.get("CHILD_CONFIG") ?? "{}");
const url = Deno.env.get("DATABASE_URL")!;
const encoder = new TextEncoder();

function emit(event: Record<string, unknown>): void {
  Deno.stdout.writeSync(
    encoder.encode(JSON.stringify({ ...event, id: config.identity, wall: Date.now() }) + "\n"),
  );
}

function errorName(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const sql = postgres(url, { max: 4, onnotice: () => {}, connect_timeout: 5 });
const elector = new LeaderElector(sql, {
  identity: config.identity,
  leaseMs: config.leaseMs,
  renewMs: config.renewMs,
  retryMs: config.retryMs,
  listen: config.listen ?? true,
});
elector.addEventListener("elected", (e) => {
  emit({ ev: "elected", term: e.lease!.term, expiresAt: e.lease!.expiresAt.getTime() });
  if (config.mode === "tasks" || config.mode === "both") void lead(e.lease!);
});
elector.addEventListener("demoted", (e) => {
  emit({
    ev: "demoted",
    term: e.lease!.term,
    reason: e.reason,
    expiresAt: e.lease!.expiresAt.getTime(),
    error: e.error === undefined ? undefined : errorName(e.error),
  });
});
elector.addEventListener("error", (e) => emit({ ev: "error", error: errorName(e.error) }));

/** `writes` mode: a fenced write after each unit of work, with the lease taken before it. */
async function writeLoop(): Promise<void> {
  for (;;) {
    const lease = elector.lease;
    if (!lease) {
      await sleep(20);
      continue;
    }
    emit({ ev: "work", term: lease.term });
    await sleep(config.workMs ?? 200);
    await fencedWrite(lease);
  }
}

async function fencedWrite(lease: Lease): Promise<void> {
  try {
    const [row] = await sql.begin(async (tx) => {
      await assertLeadership(tx, lease);
      return await tx`
        INSERT INTO fault_log (term, holder) VALUES (${lease.term}, ${lease.holder})
        RETURNING seq::int AS seq`;
    });
    emit({ ev: "write", term: lease.term, ok: true, seq: row.seq });
  } catch (err) {
    emit({
      ev: "write",
      term: lease.term,
      ok: false,
      fenced: err instanceof NotLeaderError,
      error: errorName(err),
    });
  }
}

/** `tasks` mode: recover orphans, then claim and finish tasks while this term lasts. */
async function lead(lease: Lease): Promise<void> {
  let recovered = false;
  while (elector.lease?.term === lease.term) {
    try {
      if (!recovered) {
        const tasks = await recoverTasks(sql, lease);
        recovered = true;
        emit({ ev: "recovered", term: lease.term, ids: tasks.map((t) => t.id) });
      }
      const tasks = await claimTasks(sql, { limit: config.batch ?? 1, lease });
      if (tasks.length === 0) {
        await sleep(50);
        continue;
      }
      emit({ ev: "claimed", term: lease.term, ids: tasks.map((t) => t.id) });
      await Promise.all(tasks.map((t) => work(t.id, lease)));
    } catch (err) {
      emit({
        ev: "lead_failed",
        term: lease.term,
        fenced: err instanceof NotLeaderError,
        error: errorName(err),
      });
      await sleep(100);
    }
  }
}

async function work(id: string, lease: Lease): Promise<void> {
  await sleep(config.workMs ?? 100); // deliberately deaf to elector.signal
  try {
    await sql.begin(async (tx) => {
      await updateTask(tx, id, {
        status: "complete",
        result: { status: "success", message: `finished by ${lease.holder} at term ${lease.term}` },
      }, { lease });
      await tx`INSERT INTO finish_log (task_id, term, holder) VALUES (${id}, ${lease.term}, ${lease.holder})`;
    });
    emit({ ev: "finished", task: id, term: lease.term, ok: true });
  } catch (err) {
    emit({
      ev: "finished",
      task: id,
      term: lease.term,
      ok: false,
      fenced: err instanceof NotLeaderError,
      error: errorName(err),
    });
  }
}

async function stop(): Promise<never> {
  const t0 = Date.now();
  await elector.stop();
  emit({ ev: "stopped", releasedIn: Date.now() - t0 });
  await sql.end({ timeout: 1 });
  Deno.exit(0);
}

/** Reads commands from stdin; a `stop` line, or the parent going away, stops gracefully. */
async function readCommands(): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of Deno.stdin.readable) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line === "stop") await stop();
    }
  }
  await stop();
}

await elector.start();
emit({ ev: "ready", leader: elector.isLeader });
if (config.mode === "writes" || config.mode === "both") void writeLoop();
await readCommands();
