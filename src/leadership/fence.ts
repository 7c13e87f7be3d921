/**
 * The one lease fence every fenced write uses. A fenced statement starts
 * with a `fence` CTE that locks the lease row `FOR SHARE` if and only if
 * the lease is current, so a usurper cannot commit a new term until the
 * write is done; its writes are conditioned on {@linkcode FENCE_HOLDS};
 * and it always returns at least one row whose `fenced` column says
 * whether the lease held. {@linkcode fencedRows} reads that answer the
 * same way for every statement.
 */
import type { Params, Rows } from "../db.ts";
import { NotLeaderError } from "../errors.ts";
import type { Lease } from "./types.ts";

/**
 * The SQL test that a lease row is `lease` and still live (database
 * clock), its parameters added to `p`. {@linkcode fenceCte} and the
 * lease's own renewal and release use it, so "live" means one thing.
 */
export function liveLeaseSql(p: Params, lease: Lease): string {
  return `election = ${p.add(lease.election)}::text AND holder = ${p.add(lease.holder)}::text
      AND term = ${p.add(lease.term)}::bigint AND expires_at > clock_timestamp()`;
}

/** True inside a statement that starts with {@linkcode fenceCte} while the lease holds. */
export const FENCE_HOLDS = "(SELECT held FROM fence)";

/**
 * The `fence` CTE (without `WITH`): one row, `held`, true when the lease
 * is current, with the lease row locked FOR SHARE until the transaction
 * ends.
 */
export function fenceCte(p: Params, lease: Lease): string {
  return `fence AS (
    SELECT count(*) > 0 AS held FROM (
      SELECT 1 FROM leader_leases WHERE ${liveLeaseSql(p, lease)} FOR SHARE
    ) AS live
  )`;
}

/**
 * A fenced statement: `ctes` (data-modifying CTEs whose writes test
 * {@linkcode FENCE_HOLDS}) after the fence, and a final select of
 * `select` from the CTE named `from`, beside `fenced`. One row comes back
 * even when nothing was written, so the caller always learns whether the
 * lease held. `select` must include a never-null `id` for the rows to be
 * told apart from that placeholder.
 */
export function fencedSql(
  p: Params,
  lease: Lease,
  ctes: string,
  from: string,
  select = "w.*",
  orderBy = "",
): string {
  return `WITH ${fenceCte(p, lease)}, ${ctes}
    SELECT fence.held AS fenced, ${select}
    FROM fence LEFT JOIN ${from} w ON fence.held
    ${orderBy}`;
}

/**
 * Throws unless the {@linkcode fencedSql} statement that returned `rows`
 * found its lease holding.
 *
 * @throws {NotLeaderError} The lease is not the current leadership.
 */
export function assertFenced(rows: Rows, lease: Lease): void {
  if (!rows[0]?.fenced) throw notLeader(lease);
}

/**
 * The rows of a {@linkcode fencedSql} statement without the placeholder
 * row; throws when the lease did not hold.
 *
 * @throws {NotLeaderError} The lease is not the current leadership.
 */
// deno-lint-ignore no-explicit-any
export function fencedRows(rows: Rows, lease: Lease): any[] {
  assertFenced(rows, lease);
  return rows[0].id === null ? [] : rows;
}

/** The error for a lease that is not (or no longer) the current leadership. */
export function notLeader(lease: Lease, detail = ""): NotLeaderError {
  return new NotLeaderError(
    `${lease.holder} is not the leader of "${lease.election}" at term ${lease.term}${detail}`,
  );
}
