/**
 * How much work waits and runs, for `GET /health/extended` and the status
 * page. No public function counts tasks, so this is one statement of the
 * HTTP face's own; it reads through the queue's partial index for queued
 * tasks.
 *
 * @module
 */
import { type Db, query } from "../db.ts";

/** Queued and running tasks. */
export interface QueueDepth {
  queued: number;
  running: number;
}

/**
 * Counts queued and running tasks in one statement.
 *
 * @param db A pool or transaction.
 * @returns The counts.
 */
export async function queueDepth(db: Db): Promise<QueueDepth> {
  const [row] = await query(
    db,
    `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
            count(*) FILTER (WHERE status = 'running')::int AS running
     FROM tasks WHERE status IN ('queued', 'running')`,
    [],
  );
  return { queued: row.queued, running: row.running };
}
