/**
 * The statements that read the task-event log, and why they are shaped so.
 *
 * A read's window is the events of transactions visible in its snapshot
 * `c` and not in the previous one, `p` (PgQ's rule). `c` is the statement's
 * own snapshot: `pg_current_snapshot()` returns the active snapshot, which
 * in READ COMMITTED is the statement's, so the rows the statement sees and
 * the transactions it calls visible agree. Not visible in `p` means: in
 * progress at `p` (in its xip list) or at or above `xmax(p)`. `xmax` is
 * "latest completed + 1", so a transaction still running at `p` can sit
 * above it without being listed, and may have written events long before.
 *
 * Events are found by id as well as by xid, so that a page is read in id
 * order through an index and stops after `limit` rows, however large the
 * window (an xid range sorted by id is read whole for every page). With
 * `s` = the largest id visible in `p` (every delivered event is at or
 * below it, and it is durable: its transaction committed), an event of the
 * window is one of
 * - X: id ≤ s, xid in xip(p): looked up per xid through (xid, id);
 * - R: id > s (nothing above s was visible in p), or xid ≥ xmax(p); both
 *   visible in `c`. Read through the primary key from `lo`, the smallest id
 *   of any event with xid in [xmax(p), xmax(c)) (one xid-index range per
 *   window; in a poll it spans one poll's transactions), up to `h`, the
 *   largest id visible in `c`.
 * X and R are disjoint (xip(p) lies below xmax(p)), each is read in id
 * order, and UNION ALL merges them: no OR, which planned a sequential scan.
 * Within a window events come in id order: a later change of a task waits
 * for the row lock of the earlier one, so its event takes a later id.
 *
 * Deciding "delivered" by `id ≤ s` instead of by xid also survives a crash:
 * PostgreSQL may hand out again, after a crash, the xid of a transaction
 * that aborted without its abort reaching the disk, and a stored `p` would
 * call it seen; its new events still have ids above the durable `s`.
 *
 * The parameters are plain values read only into `w`, one statement per way
 * of starting: then a custom plan knows nothing a generic one does not, the
 * plan cache keeps the generic plan, and a poll is not planned anew each
 * time (with COALESCEs of the parameters it was: planning took 0.6 of a
 * 0.75 ms poll).
 *
 * @module
 */

// The snapshot of a read that opens a window. Inside a transaction that has
// written, its own transaction counts as in progress: PostgreSQL leaves it
// out of the xip list, so its uncommitted events would be delivered now and,
// if it rolled back, would never have happened.
const NOW_SNAPSHOT = `(
  SELECT CASE WHEN x IS NULL OR x >= pg_snapshot_xmax(n) THEN n
    ELSE (least(pg_snapshot_xmin(n), x)::text || ':' || pg_snapshot_xmax(n)::text || ':' ||
          (SELECT string_agg(v::text, ',' ORDER BY v)
           FROM (SELECT pg_snapshot_xip(n) UNION SELECT x) AS u (v)))::pg_snapshot END
  FROM (SELECT pg_current_snapshot() AS n, pg_current_xact_id_if_assigned() AS x) AS q)`;

// The largest id visible now, not counting this transaction's own events:
// the primary key backwards, past the tail of uncommitted events (a few in
// a poll; all of them while a large batch insert is still open).
const MAX_VISIBLE_ID = `(
  SELECT m.id FROM task_events m
  WHERE m.xid IS DISTINCT FROM pg_current_xact_id_if_assigned()
  ORDER BY m.id DESC LIMIT 1)`;

// "From the oldest event kept": every transaction up to the pruned-through
// point counts as seen (all its events are gone), none after it.
const START_SNAPSHOT = `(
  SELECT (f || ':' || f || ':')::pg_snapshot
  FROM (SELECT coalesce((through::text::numeric + 1)::text, '1') AS f
        FROM task_events_pruned) AS t)`;

// The smallest id of an event with xid in [xmax(p), xmax(c)), less one.
// Row comparisons, so that only the (xid, id) index can serve the range, and
// OFFSET 0, so that min() is not turned into a walk of the primary key in
// id order (the planner did, and read all 200,000 ids to find none).
const WINDOW_LO = `least(b.s, coalesce((
  SELECT min(r.id) - 1 FROM (
    SELECT m.id FROM task_events m
    WHERE (m.xid, m.id) >= (pg_snapshot_xmax(b.p), 0)
      AND (m.xid, m.id) < (pg_snapshot_xmax(b.c), 0)
    OFFSET 0) AS r), b.s))`;

const COLUMNS = `e.id, e.task_id, e.parent_task_id, e.action, e.status, e.kind, e.at`;

/**
 * A read: `start` gives p, s, c, i (last id delivered) and n (rows wanted);
 * `bounds` gives h and lo from them. A cursor is fresh unless pruning took
 * a transaction that `p` does not see.
 */
const readSql = (start: string, bounds: string) => `
WITH b AS MATERIALIZED (
  SELECT ${start}, (SELECT through FROM task_events_pruned) AS through
), w AS MATERIALIZED (
  SELECT b.*, ${bounds},
         through IS NULL OR (through < pg_snapshot_xmax(b.p)
           AND NOT EXISTS (SELECT FROM pg_snapshot_xip(b.p) AS x WHERE x <= through)) AS fresh
  FROM b
)
SELECT w.p::text AS p, w.s::text AS s, w.c::text AS c, w.h::text AS h, w.lo::text AS lo,
       w.fresh, e.id::text AS id, e.task_id, e.parent_task_id, e.action, e.status, e.kind, e.at
FROM w LEFT JOIN LATERAL (
  (SELECT ${COLUMNS} FROM task_events e
   WHERE e.id > greatest(w.lo, w.i) AND e.id <= w.h AND pg_visible_in_snapshot(e.xid, w.c)
     AND (e.id > w.s OR e.xid >= pg_snapshot_xmax(w.p))
   ORDER BY e.id LIMIT w.n)
  UNION ALL
  (SELECT x_events.* FROM pg_snapshot_xip(w.p) AS x (xid) CROSS JOIN LATERAL (
     SELECT ${COLUMNS} FROM task_events e
     WHERE e.xid = x.xid AND (e.xid, e.id) > (x.xid, w.i) AND (e.xid, e.id) <= (x.xid, w.s)
     ORDER BY e.id LIMIT w.n) AS x_events
   WHERE pg_visible_in_snapshot(x.xid, w.c))
) AS e ON w.fresh
ORDER BY e.id LIMIT (SELECT n FROM w)`;

/** From the oldest event kept. `$1`: rows wanted. */
export const READ_FROM_START: string = readSql(
  `${START_SNAPSHOT} AS p, 0::bigint AS s, ${NOW_SNAPSHOT} AS c, 0::bigint AS i, $1::int AS n`,
  `coalesce(${MAX_VISIBLE_ID}, 0) AS h, 0::bigint AS lo`,
);

/** After a cursor between windows: opens a window. `$1` p, `$2` s, `$3` rows wanted. */
export const READ_AFTER: string = readSql(
  `$1::text::pg_snapshot AS p, $2::bigint AS s, ${NOW_SNAPSHOT} AS c,
   0::bigint AS i, $3::int AS n`,
  `greatest(b.s, ${MAX_VISIBLE_ID}) AS h, ${WINDOW_LO} AS lo`,
);

/** Inside a window: `$1` p, `$2` s, `$3` c, `$4` h, `$5` lo, `$6` i, `$7` rows wanted. */
export const READ_IN_WINDOW: string = readSql(
  `$1::text::pg_snapshot AS p, $2::bigint AS s, $3::text::pg_snapshot AS c,
   $6::bigint AS i, $7::int AS n`,
  `$4::bigint AS h, $5::bigint AS lo`,
);

/** The cursor of "now": p, and the largest id visible in it. */
export const CURRENT_CURSOR: string = `
SELECT ${NOW_SNAPSHOT}::text AS p, coalesce(${MAX_VISIBLE_ID}, 0)::text AS s
WHERE $1::int = 1`;
