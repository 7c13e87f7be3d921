/**
 * The invariants every leadership fault test and the soak check, on the
 * database's own record: a trigger logs every change of the lease row to
 * `lease_history`; fenced writes land in `fault_log` and `finish_log`.
 */
import type { Sql } from "../../src/db.ts";

/** Creates the history trigger and the log tables in the connection's schema. */
export async function installFaultTables(sql: Sql): Promise<void> {
  await sql.unsafe(`
    CREATE TABLE lease_history (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      election text NOT NULL, holder text NOT NULL, term bigint NOT NULL,
      acquired_at timestamptz NOT NULL, renewed_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL, logged_at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE FUNCTION log_lease() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO lease_history (election, holder, term, acquired_at, renewed_at, expires_at)
      VALUES (NEW.election, NEW.holder, NEW.term, NEW.acquired_at, NEW.renewed_at, NEW.expires_at);
      RETURN NULL;
    END $$;
    CREATE TRIGGER log_lease AFTER INSERT OR UPDATE ON leader_leases
      FOR EACH ROW EXECUTE FUNCTION log_lease();
    CREATE TABLE fault_log (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      term bigint NOT NULL, holder text NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE TABLE finish_log (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      task_id uuid NOT NULL, term bigint NOT NULL, holder text NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp());
  `);
}

/** One term as the database saw it; times in microseconds since the epoch (database clock). */
export interface TermSpan {
  term: number;
  holder: string;
  acquiredAt: number;
  /** The expiry its last write set (a release sets it to the release time). */
  endsAt: number;
}

/** Microseconds as an ISO time, for messages. */
function iso(us: number): string {
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, -1)}${
    String(Math.floor(us % 1000)).padStart(3, "0")
  }Z`;
}

/** What {@linkcode checkInvariants} found. */
export interface InvariantReport {
  terms: TermSpan[];
  writes: number;
  finishes: number;
  violations: string[];
}

/**
 * Checks, on the database's record: terms only grow in commit order and
 * each has one holder; no two terms overlap on the database clock; fenced
 * writes (`fault_log`, `finish_log`) never go back a term, each comes from
 * its term's holder within its term; no task is finished twice.
 */
export async function checkInvariants(sql: Sql): Promise<InvariantReport> {
  const violations: string[] = [];
  const history = await sql<
    { id: string; holder: string; term: number; acquired_at: number; expires_at: number }[]
  >`
    SELECT id, holder, term::int AS term,
           (extract(epoch FROM acquired_at) * 1000000)::float8 AS acquired_at,
           (extract(epoch FROM expires_at) * 1000000)::float8 AS expires_at
    FROM lease_history ORDER BY id`;
  const spans = new Map<number, TermSpan>();
  let lastTerm = 0;
  for (const h of history) {
    if (h.term < lastTerm) {
      violations.push(`history ${h.id}: term went down ${lastTerm} → ${h.term}`);
    }
    lastTerm = Math.max(lastTerm, h.term);
    const span = spans.get(h.term);
    if (!span) {
      spans.set(h.term, {
        term: h.term,
        holder: h.holder,
        acquiredAt: h.acquired_at,
        endsAt: h.expires_at,
      });
      continue;
    }
    if (span.holder !== h.holder) {
      violations.push(`term ${h.term} has two holders: ${span.holder}, ${h.holder}`);
    }
    if (span.acquiredAt !== h.acquired_at) {
      violations.push(`term ${h.term} was acquired twice`);
    }
    span.endsAt = h.expires_at;
  }
  const terms = [...spans.values()].sort((a, b) => a.term - b.term);
  for (let i = 1; i < terms.length; i++) {
    const [prev, next] = [terms[i - 1], terms[i]];
    if (next.term !== prev.term + 1) {
      violations.push(`terms skip from ${prev.term} to ${next.term}`);
    }
    if (next.acquiredAt < prev.endsAt) {
      violations.push(
        `two leaders at once: term ${next.term} (${next.holder}) began ${iso(next.acquiredAt)}` +
          ` before term ${prev.term} (${prev.holder}) ended ${iso(prev.endsAt)}`,
      );
    }
  }
  const checkLog = (
    table: string,
    rows: { seq: number; term: number; holder: string; at: number }[],
  ) => {
    let last = 0;
    for (const r of rows) {
      if (r.term < last) {
        violations.push(`${table} ${r.seq}: a stale write of term ${r.term} after term ${last}`);
      }
      last = Math.max(last, r.term);
      const span = spans.get(r.term);
      if (!span) {
        violations.push(`${table} ${r.seq}: term ${r.term} was never granted`);
        continue;
      }
      if (span.holder !== r.holder) {
        violations.push(
          `${table} ${r.seq}: written by ${r.holder}, term ${r.term} is ${span.holder}'s`,
        );
      }
      const next = spans.get(r.term + 1);
      if (r.at < span.acquiredAt || (next && r.at >= next.acquiredAt)) {
        violations.push(
          `${table} ${r.seq}: term ${r.term} wrote at ${iso(r.at)}, outside its term`,
        );
      }
    }
  };
  const writes = await sql<{ seq: number; term: number; holder: string; at: number }[]>`
    SELECT seq::int AS seq, term::int AS term, holder,
           (extract(epoch FROM at) * 1000000)::float8 AS at
    FROM fault_log ORDER BY seq`;
  checkLog("fault_log", writes);
  const finishes = await sql<{ seq: number; term: number; holder: string; at: number }[]>`
    SELECT seq::int AS seq, term::int AS term, holder,
           (extract(epoch FROM at) * 1000000)::float8 AS at
    FROM finish_log ORDER BY seq`;
  checkLog("finish_log", finishes);
  const twice = await sql<{ task_id: string; n: number }[]>`
    SELECT task_id, count(*)::int AS n FROM finish_log GROUP BY task_id HAVING count(*) > 1`;
  for (const t of twice) violations.push(`task ${t.task_id} finished ${t.n} times`);
  return { terms, writes: writes.length, finishes: finishes.length, violations };
}
