/**
 * The claiming UPDATE, shared by the claims of `queue.ts` and by
 * `completeAndClaimNext`: one definition of which task is claimable next.
 */
import { type Params, textArraySql } from "../db.ts";
import { FENCE_HOLDS } from "../leadership/fence.ts";
import type { Lease } from "../leadership/types.ts";
import { TASK } from "./_rows.ts";

/** The order claimed rows come back in (the order they were picked in), over the alias `w`. */
export const ORDER = "ORDER BY coalesce(w.run_after, w.created), w.id";

/**
 * The claiming UPDATE of `claimTasks`, its parameters added to `p`; `when`
 * is one more SQL condition a task must meet to be picked.
 */
export function claimSql(
  p: Params,
  o: { limit: number; actions?: string[]; claimedBy?: string; lease?: Lease; maxAttempts?: number },
  when = "",
): string {
  const claimedBy = p.add(o.claimedBy ?? o.lease?.holder ?? null);
  const term = p.add(o.lease?.term ?? null);
  const maxAttempts = p.add(o.maxAttempts ?? null);
  // The limit (a validated integer) is part of the text, so the planner
  // costs the pick for the rows it takes; as a parameter, a generic plan
  // guesses 10% of the queue.
  //
  // "Claims never take a task before its runAfter", nor one whose
  // termination was requested: both are in the queue index's key and
  // predicate (migrations/0009), so the pick reads a bounded range of it.
  // statement_timestamp(), not clock_timestamp(): a volatile bound cannot
  // be an index condition, and the scan would walk every future task.
  const pick = `
    SELECT id FROM tasks
    WHERE status = 'queued' AND NOT terminate
      AND coalesce(run_after, created) <= statement_timestamp()
      ${o.actions ? `AND action = ANY(${textArraySql(p, o.actions)})` : ""}
      ${o.lease ? `AND ${FENCE_HOLDS}` : ""} ${when ? `AND ${when}` : ""}
    ORDER BY coalesce(run_after, created), id
    LIMIT ${o.limit}
    FOR UPDATE SKIP LOCKED`;
  // One task: a scalar subquery (measured fastest); several: an array of
  // ids, so the picking subquery runs once.
  return `
    UPDATE tasks t
    SET status = 'running', claimed_by = ${claimedBy}::text, claimed_term = ${term}::bigint,
        max_attempts = ${maxAttempts}::int, heartbeat_at = clock_timestamp(),
        updated = clock_timestamp(), version = t.version + 1
    WHERE ${o.limit === 1 ? `t.id = (${pick})` : `t.id = ANY(ARRAY(${pick}))`}
    RETURNING ${TASK.sql}`;
}
