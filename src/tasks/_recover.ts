/**
 * The recovery of running tasks whose worker is gone, shared by
 * `recoverTasks` (a new leader, fenced) and `rescueStaleTasks` (no lease):
 * which tasks are orphans, where each one goes, and the note saying why.
 */
import { type Db, type Params, query } from "../db.ts";
import { FENCE_HOLDS } from "../leadership/fence.ts";
import { APPEND_LOCK } from "../result_messages.ts";
import { TASK } from "./_rows.ts";
import type { Task } from "./types.ts";

/** Which running tasks are orphans, and where they go. */
export interface Recovery {
  /** Tasks claimed under a term below this one (their leader is gone). */
  term?: number;
  /** Tasks of any term whose heartbeat is older than this many ms. */
  staleAfterMs?: number;
  /** Complete them as failures instead of requeueing them. */
  failed: boolean;
  /** The statement starts with the lease fence. */
  fenced: boolean;
  /** Who recovers, recorded as the notes' context. */
  by: string;
}

/**
 * The CTEs (without `WITH`) that find, move and note the orphans; the last
 * one, `recovered`, returns their ids. DESIGN.md, "Task lifecycle": "A
 * running task whose heartbeatAt is older than staleAfterMs is recovered
 * like an orphan of an older term (retry + 1 and queued, or failed with
 * to: "failed"), whatever its term, NULL included." A task claimed with
 * `maxAttempts` whose `retry` has reached it fails instead of requeueing,
 * and one whose termination was requested becomes `terminated`.
 */
export function recoverCtes(q: Params, r: Recovery): string {
  const term = q.add(r.term ?? null);
  const orphaned = `claimed_term < ${term}::bigint`;
  // A task claimed before heartbeats existed has none: its last write counts.
  const stale = r.staleAfterMs === undefined ? "" : `coalesce(heartbeat_at, updated, created)
        < clock_timestamp() - ${q.add(r.staleAfterMs)}::float8 * interval '1 millisecond'`;
  const which = [r.term !== undefined ? orphaned : "", stale].filter(Boolean).join(" OR ");
  return `orphans AS (
      SELECT id, claimed_by, claimed_term, heartbeat_at, terminate,
             CASE WHEN terminate THEN 'terminated'
                  WHEN ${q.add(r.failed)}::boolean OR retry >= coalesce(max_attempts, 2147483647)
                    THEN 'failed'
                  ELSE 'queued' END AS outcome,
             coalesce(${r.term !== undefined ? orphaned : "false"}, false) AS by_term
      FROM tasks
      WHERE status = 'running' AND (${which}) ${r.fenced ? `AND ${FENCE_HOLDS}` : ""}
      ORDER BY id
      FOR UPDATE
    ), recovered AS (
      UPDATE tasks t SET
        status = CASE o.outcome WHEN 'failed' THEN 'complete' ELSE o.outcome END,
        retry = CASE o.outcome WHEN 'queued' THEN t.retry + 1 ELSE t.retry END,
        result_status = CASE o.outcome WHEN 'failed' THEN 'failure' ELSE t.result_status END,
        result_reason = CASE o.outcome WHEN 'failed'
          THEN CASE WHEN o.by_term THEN 'its leader lost the lease while it ran'
                    ELSE 'its worker stopped sending heartbeats' END
          ELSE t.result_reason END,
        claimed_by = NULL, claimed_term = NULL, heartbeat_at = NULL,
        updated = clock_timestamp(), version = t.version + 1
      FROM orphans o WHERE t.id = o.id
      RETURNING t.id
    ), noted AS (
      INSERT INTO result_messages (task_id, message, error, context, context_type)
      SELECT o.id,
             CASE WHEN o.by_term
               THEN format('running under term %s (%s), whose leader is gone; ',
                           o.claimed_term, coalesce(o.claimed_by, 'unknown'))
               ELSE format('running (%s) with no heartbeat since %s; ',
                           coalesce(o.claimed_by, 'unknown'),
                           coalesce(o.heartbeat_at::text, 'its claim'))
             END || CASE o.outcome
               WHEN 'queued' THEN 'returned to the queue'
               WHEN 'terminated' THEN 'terminated, as was requested'
               WHEN 'failed' THEN 'marked failed'
             END || coalesce(' by term ' || ${term}::bigint, ''),
             o.outcome = 'failed', ${q.add(r.by)}::text, ${
    q.add(r.fenced ? "leader" : "rescue")
  }::text
      FROM orphans o,
           LATERAL (SELECT pg_advisory_xact_lock(${APPEND_LOCK},
                      hashtext(current_schema() || ':' || o.id::text))) AS l
    )`;
}

/** The recovered tasks read after the write, so their error counts include the notes. */
export async function readRecovered(db: Db, ids: string[]): Promise<Task[]> {
  if (ids.length === 0) return [];
  const rows = await query(
    db,
    `SELECT ${TASK.sql} FROM tasks t
    WHERE t.id IN (SELECT jsonb_array_elements_text($1::text::jsonb)::uuid)
    ORDER BY t.created, t.id`,
    [JSON.stringify(ids)],
  );
  return rows.map(TASK.map);
}
