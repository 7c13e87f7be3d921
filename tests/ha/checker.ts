/**
 * The checker: after a scenario, compares what the clients were told
 * (the acknowledgement logs) with what the new primary holds, and counts
 * each way a failover can break our promises — acknowledged writes lost,
 * tasks completed twice, terms going backwards, fenced writes of an older
 * term committed after a newer term's first write, events the subscriber
 * missed or saw twice.
 *
 * Commit order comes from `pg_xact_commit_timestamp` (the nodes run with
 * `track_commit_timestamp`) of each fenced write's term stamp: a result
 * message written in the same transaction (see worker.ts), and the note
 * `recoverTasks` appends ("… by term N").
 *
 * @module
 */
import postgres from "postgres";
import type { Entry } from "./ack_log.ts";

/** What the checker found. */
export interface Findings {
  acked: number;
  lost: number;
  lostExamples: string[];
  duplicatedCompletions: number;
  termRegressions: number;
  termRegressionNotes: string[];
  staleFencedCommits: number;
  eventsInDb: number;
  eventsMissed: number;
  eventsDuplicated: number;
  eventsOutOfOrder: number;
  /** Events the subscriber saw that the new primary does not hold (lost with the old one). */
  eventsPhantom: number;
  completed: number;
  stillRunning: number;
  createsInDoubt: number;
  failedCalls: number;
  /** The longest a failed call took before it failed, ms: fail-fast evidence. */
  slowestFailureMs: number;
  finalTerm: number | null;
  termsSeen: number[];
}

type Sql = ReturnType<typeof postgres>;

/** Reads the new primary and the logs, and counts every violation. */
export async function check(url: string, schema: string, entries: Entry[]): Promise<Findings> {
  const sql = postgres(url, {
    max: 2,
    connect_timeout: 5,
    connection: { search_path: schema },
    onnotice: () => {},
  });
  try {
    const acks = await lostAcks(sql, entries);
    const terms = await termChecks(sql, entries);
    const events = await eventChecks(sql, entries);
    const [counts] = await sql`
      SELECT count(*) FILTER (WHERE status = 'complete')::int AS completed,
             count(*) FILTER (WHERE status = 'running')::int AS running
      FROM tasks`;
    const fails = entries.filter((e) => e.kind === "fail");
    return {
      ...acks,
      ...terms,
      ...events,
      duplicatedCompletions: await duplicatedCompletions(sql, entries),
      completed: counts.completed,
      stillRunning: counts.running,
      failedCalls: fails.length,
      slowestFailureMs: fails.reduce((m, e) => Math.max(m, e.t1 - e.t0), 0),
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Every acknowledged create, claim, append and completion must be on the new primary. */
async function lostAcks(sql: Sql, entries: Entry[]) {
  const tasks = new Map<string, string>();
  for (const r of await sql`SELECT id::text, status FROM tasks`) tasks.set(r.id, r.status);
  const stamps = new Set<string>();
  const seqs = new Set<number>();
  for (
    const r of await sql`
    SELECT task_id::text AS task, sequence::int AS seq, extra->>'op' AS op, extra->>'term' AS term
    FROM result_messages WHERE context_type = 'ha'`
  ) {
    stamps.add(`${r.op}:${r.task}:${r.term}`);
    seqs.add(r.seq);
  }
  const lost: string[] = [];
  let acked = 0;
  const tried = new Set<string>();
  const created = new Set<string>();
  for (const e of entries) {
    const id = e.task as string;
    const term = e.term as number;
    if (e.kind === "create-try") { for (const i of e.ids as string[]) tried.add(i); }
    if (e.kind === "create") {
      for (const i of e.ids as string[]) {
        acked++;
        created.add(i);
        if (!tasks.has(i)) lost.push(`created task ${i}`);
      }
    } else if (e.kind === "claim") {
      acked++;
      if (!stamps.has(`claim:${id}:${term}`)) lost.push(`claim of ${id} at term ${term}`);
    } else if (e.kind === "append") {
      acked++;
      if (!seqs.has(e.seq as number)) lost.push(`message ${e.seq} of ${id}`);
    } else if (e.kind === "complete") {
      acked++;
      const stamped = e.readBack || stamps.has(`complete:${id}:${term}`);
      if (tasks.get(id) !== "complete" || !stamped) {
        lost.push(`completion of ${id} at term ${term}`);
      }
    }
  }
  const inDoubt = [...tried].filter((i) => !created.has(i)).length;
  return { acked, lost: lost.length, lostExamples: lost.slice(0, 5), createsInDoubt: inDoubt };
}

/** Tasks completed more than once: by status events, by completion stamps, or by acknowledgements. */
async function duplicatedCompletions(sql: Sql, entries: Entry[]): Promise<number> {
  const twice = new Set<string>();
  for (
    const r of await sql`
    SELECT task_id::text AS task FROM task_events WHERE status = 'complete' AND kind = 'status'
    GROUP BY task_id HAVING count(*) > 1
    UNION
    SELECT task_id::text FROM result_messages WHERE context_type = 'ha' AND extra->>'op' = 'complete'
    GROUP BY task_id HAVING count(*) > 1`
  ) twice.add(r.task);
  const acks = new Map<string, number>();
  for (const e of entries) {
    if (e.kind === "complete") acks.set(e.task as string, (acks.get(e.task as string) ?? 0) + 1);
  }
  for (const [task, n] of acks) if (n > 1) twice.add(task);
  return twice.size;
}

/**
 * Terms: elections in time order must hand out ever larger terms; the
 * lease row polled over time must never go down; the final row must be at
 * least every term elected; fenced writes in commit order must never go
 * down, and none of an older term may commit after a newer term's first.
 */
async function termChecks(sql: Sql, entries: Entry[]) {
  const notes: string[] = [];
  let regressions = 0;
  const elected = entries.filter((e) => e.kind === "elected").sort((a, b) => a.t0 - b.t0);
  let top = 0;
  for (const e of elected) {
    const term = e.term as number;
    if (term <= top) {
      regressions++;
      notes.push(`${e.identity} elected at term ${term} after term ${top} had been elected`);
    }
    top = Math.max(top, term);
  }
  const polls = entries.filter((e) => e.kind === "lease" && e.term !== null)
    .sort((a, b) => a.t1 - b.t1);
  for (let i = 1; i < polls.length; i++) {
    if ((polls[i].term as number) < (polls[i - 1].term as number)) {
      regressions++;
      notes.push(`lease row went from term ${polls[i - 1].term} to ${polls[i].term}`);
    }
  }
  const [lease] = await sql`SELECT term::int FROM leader_leases WHERE election = 'ha'`;
  const finalTerm = lease?.term ?? null;
  if (finalTerm !== null && finalTerm < top) {
    regressions++;
    notes.push(`final lease term ${finalTerm} is below elected term ${top}`);
  }
  const writes = await sql`
    SELECT coalesce((extra->>'term')::bigint, substring(message FROM 'by term (\\d+)$')::bigint)::int
             AS term,
           pg_xact_commit_timestamp(xmin) AS at
    FROM result_messages WHERE context_type IN ('ha', 'leader')
    ORDER BY at, sequence`;
  let stale = 0;
  let maxTerm = 0;
  let last = 0;
  for (const w of writes) {
    if (w.term < maxTerm) stale++;
    if (w.term < last) {
      regressions++;
      notes.push(`a term-${w.term} write committed after a term-${last} write`);
    }
    last = w.term;
    maxTerm = Math.max(maxTerm, w.term);
  }
  const termsSeen = [...new Set(elected.map((e) => e.term as number))].sort((a, b) => a - b);
  return {
    termRegressions: regressions,
    termRegressionNotes: notes.slice(0, 5),
    staleFencedCommits: stale,
    finalTerm,
    termsSeen,
  };
}

/** The subscriber's events against the new primary's log, task by task, in order. */
async function eventChecks(sql: Sql, entries: Entry[]) {
  const truth = new Map<string, string[]>();
  const rows = await sql`SELECT task_id::text AS task, kind, status FROM task_events ORDER BY id`;
  for (const r of rows) push(truth, r.task, `${r.kind}:${r.status}`);
  const seen = new Map<string, string[]>();
  for (const e of entries) {
    if (e.kind === "event") push(seen, e.task as string, `${e.ev}:${e.status}`);
  }
  let missed = 0, duplicated = 0, outOfOrder = 0, phantom = 0;
  for (const [task, want] of truth) {
    const got = seen.get(task) ?? [];
    const diff = multisetDiff(want, got);
    missed += diff.missing;
    duplicated += diff.extra;
    if (diff.missing === 0 && diff.extra === 0 && want.join() !== got.join()) outOfOrder++;
  }
  for (const [task, got] of seen) if (!truth.has(task)) phantom += got.length;
  return {
    eventsInDb: rows.length,
    eventsMissed: missed,
    eventsDuplicated: duplicated,
    eventsOutOfOrder: outOfOrder,
    eventsPhantom: phantom,
  };
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** How many of `want` are not in `got`, and how many of `got` are not in `want` (with counts). */
function multisetDiff(want: string[], got: string[]): { missing: number; extra: number } {
  const count = new Map<string, number>();
  for (const w of want) count.set(w, (count.get(w) ?? 0) + 1);
  let extra = 0;
  for (const g of got) {
    const n = count.get(g) ?? 0;
    if (n > 0) count.set(g, n - 1);
    else extra++;
  }
  let missing = 0;
  for (const n of count.values()) missing += n;
  return { missing, extra };
}
