/**
 * Leader leases as pure SQL functions: one row per election in
 * `leader_leases`, written only with the database clock; `term` is the
 * fencing token.
 *
 * @module
 */
import type { Db } from "../db.ts";
import { NotLeaderError } from "../errors.ts";

/** A lease held on an election: who holds it, its fencing term, and when it expires. */
export interface Lease {
  /** The election's name. */
  election: string;
  /** The holder's identity. */
  holder: string;
  /** The fencing token: grows by one on every change of holder. */
  term: number;
  /** When the database will consider the lease expired (database clock). */
  expiresAt: Date;
}

/** The election used when none is named. */
export const DEFAULT_ELECTION = "default";

/**
 * Checks, inside a transaction, that `lease` is still the current
 * leadership, and locks the lease row `FOR SHARE` so that no other
 * instance can take over (commit a new term) until the transaction ends.
 * Writes made in the same transaction after this call are therefore fenced:
 * a stale leader's transaction fails here instead of committing.
 *
 * @param tx The transaction (`sql.begin(tx => …)`) that makes the writes.
 * @param lease The lease the caller believes it holds.
 * @throws {NotLeaderError} The lease is not the current one or has expired.
 *
 * @example Usage
 * ```ts ignore
 * await sql.begin(async (tx) => {
 *   await assertLeadership(tx, lease);
 *   await updateTask(tx, id, { status: "complete" });
 * });
 * ```
 */
export async function assertLeadership(tx: Db, lease: Lease): Promise<void> {
  const [row] = await tx<{ holder: string; term: string; live: boolean }[]>`
    SELECT holder, term, expires_at > clock_timestamp() AS live
    FROM leader_leases WHERE election = ${lease.election}
    FOR SHARE`;
  if (!row || row.holder !== lease.holder || Number(row.term) !== lease.term || !row.live) {
    throw new NotLeaderError(
      `${lease.holder} is not the leader of "${lease.election}" at term ${lease.term}` +
        (row
          ? ` (current: ${row.holder}, term ${row.term}, ${row.live ? "live" : "expired"})`
          : ""),
    );
  }
}
