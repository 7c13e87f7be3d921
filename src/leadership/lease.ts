/**
 * Leader leases as pure SQL functions: one row per election in
 * `leader_leases`, written only with the database clock; `term` is the
 * fencing token. The row is never deleted, so `term` only grows.
 *
 * @module
 */
import { z } from "zod";
import { type Db, Params, query, toDate } from "../db.ts";
import { parse } from "../_validation.ts";
import { cancellable } from "../_async.ts";
import { actor, electionName, leaseSchema } from "../_schemas.ts";
import { liveLeaseSql, notLeader } from "./fence.ts";
import type { Lease } from "./types.ts";

export type { Db };

export type { Lease };

/** What {@linkcode claimLeadership} takes. */
export interface ClaimLeadershipInput {
  /**
   * The election to claim (1–128 characters).
   * @default "default"
   */
  election?: string;
  /** Who claims: a stable, unique name of this instance (1–256 characters). */
  identity: string;
  /** How long the lease lasts from now, on the database clock, in milliseconds. */
  leaseMs: number;
}

/** What {@linkcode renewLeadership} takes besides the lease. */
export interface RenewLeadershipOptions {
  /** How long the lease lasts from now, on the database clock, in milliseconds. */
  leaseMs: number;
  /**
   * Cancels the statement when aborted: the call rejects with the signal's
   * reason at once. The renewal may still have landed in the database, so
   * the caller must stop trusting the lease.
   */
  signal?: AbortSignal;
}

/** The election used when none is named. */
export const DEFAULT_ELECTION = "default";

/** The longest lease a timer can measure (2³¹ − 1 ms, about 24.8 days). */
const MAX_LEASE_MS = 2_147_483_647;

const leaseMs = z.number().int().positive().max(MAX_LEASE_MS);
const claimInput = z.strictObject({
  election: electionName.default(DEFAULT_ELECTION),
  identity: actor,
  leaseMs,
});
const electionArg = z.object({ election: electionName });
const renewOptions = z.strictObject({ leaseMs, signal: z.instanceof(AbortSignal).optional() });

/** The lease columns as postgres.js returns them (`bigint` comes back as text). */
interface LeaseRow {
  election: string;
  holder: string;
  term: string;
  expires_at: Date;
}

function toLease(row: LeaseRow): Lease {
  return {
    election: row.election,
    holder: row.holder,
    term: Number(row.term),
    expiresAt: toDate(row.expires_at),
  };
}

/**
 * Claims an election if nobody holds it: when it has no lease yet, or its
 * lease has expired on the database clock (a release expires it at once).
 * A successful claim takes the next term, the fencing token, even when the
 * same identity held the previous one. A live lease is never taken over,
 * not even by its own holder: that one renews instead.
 *
 * Racing claims are safe: the row is locked and the expiry checked again
 * after the lock, so exactly one of them wins. A claim waits for every
 * fenced transaction still open on the old lease ({@linkcode assertLeadership}).
 *
 * @param db The connection.
 * @param input The election, the claimer's identity and the lease length.
 * @returns The new lease, or `null` when another lease is still live.
 * @throws {ValidationError} The input is invalid; nothing was written.
 *
 * @example Usage
 * ```ts ignore
 * const lease = await claimLeadership(sql, { identity: "orch-1", leaseMs: 15_000 });
 * if (lease) console.log(`leading at term ${lease.term} until ${lease.expiresAt}`);
 * ```
 */
export async function claimLeadership(db: Db, input: ClaimLeadershipInput): Promise<Lease | null> {
  const i = parse(claimInput, input);
  const rows = await query(db, CLAIM, [i.election, i.identity, i.leaseMs]);
  return rows.length ? toLease(rows[0]) : null;
}

// $1 election, $2 identity, $3 lease length in ms.
const CLAIM = `
    INSERT INTO leader_leases AS l (election, holder, term, acquired_at, renewed_at, expires_at)
    SELECT $1::text, $2::text, 1, now.t, now.t, now.t + $3::integer * interval '1 millisecond'
    FROM (SELECT clock_timestamp() AS t) now
    ON CONFLICT (election) DO UPDATE
      SET (holder, term, acquired_at, renewed_at, expires_at) = (
        SELECT excluded.holder, l.term + 1, now.t, now.t,
               now.t + $3::integer * interval '1 millisecond'
        FROM (SELECT clock_timestamp() AS t) now)
      WHERE l.expires_at <= clock_timestamp()
    RETURNING election, holder, term, expires_at`;

/**
 * Extends a live lease by `leaseMs` from now (database clock). It matches
 * the election, holder *and* term, so a lease that expired, was released or
 * was claimed by anyone since (a newer term) is not renewed: the holder has
 * lost it and must stop acting as leader.
 *
 * @param db The connection.
 * @param lease The lease to renew.
 * @param opts The new lease length, and a signal to cancel the statement.
 * @returns The renewed lease (same term, later expiry), or `null` when it was lost.
 * @throws {ValidationError} The lease or options are invalid; nothing was written.
 * @throws {DOMException} `opts.signal` was aborted (its reason is thrown).
 *
 * @example Usage
 * ```ts ignore
 * const renewed = await renewLeadership(sql, lease, { leaseMs: 15_000 });
 * if (!renewed) stopWorking(); // another instance leads now
 * ```
 */
export async function renewLeadership(
  db: Db,
  lease: Lease,
  opts: RenewLeadershipOptions,
): Promise<Lease | null> {
  const l = parse(leaseSchema, lease);
  const o = parse(renewOptions, opts);
  const p = new Params();
  const ms = p.add(o.leaseMs);
  const rows = await cancellable(
    query(
      db,
      `UPDATE leader_leases
      SET (renewed_at, expires_at) = (
        SELECT now.t, now.t + ${ms}::integer * interval '1 millisecond'
        FROM (SELECT clock_timestamp() AS t) now)
      WHERE ${liveLeaseSql(p, l)}
      RETURNING election, holder, term, expires_at`,
      p.values,
    ),
    o.signal,
  );
  return rows.length ? toLease(rows[0]) : null;
}

/**
 * Gives a live lease up: expires it now (database clock) and, in the same
 * statement, notifies the election's channel ({@linkcode leadershipChannel})
 * so that waiting instances claim it within milliseconds. Like renewal it
 * matches election, holder and term; the row stays, so the term keeps
 * growing.
 *
 * @param db The connection.
 * @param lease The lease to give up.
 * @returns `true` if it was released, `false` if it was no longer live (expired or taken over).
 * @throws {ValidationError} The lease is invalid; nothing was written.
 *
 * @example Usage
 * ```ts ignore
 * await releaseLeadership(sql, lease); // a follower takes over at once
 * ```
 */
export async function releaseLeadership(db: Db, lease: Lease): Promise<boolean> {
  const l = parse(leaseSchema, lease);
  const p = new Params();
  const rows = await query(
    db,
    `WITH released AS (
      UPDATE leader_leases SET expires_at = clock_timestamp()
      WHERE ${liveLeaseSql(p, l)}
      RETURNING election, holder, term
    )
    SELECT pg_notify(${CHANNEL_SQL},
      json_build_object('election', election, 'holder', holder, 'term', term)::text)
    FROM released`,
    p.values,
  );
  return rows.length > 0;
}

/**
 * The current leader of an election: its live lease, or `null` when there
 * is none (never claimed, expired or released).
 *
 * @param db The connection.
 * @param election The election.
 * @returns The live lease, or `null`.
 * @throws {ValidationError} The election name is invalid.
 *
 * @example Usage
 * ```ts ignore
 * const leader = await getLeader(sql);
 * console.log(leader ? `${leader.holder} leads (term ${leader.term})` : "no leader");
 * ```
 */
export async function getLeader(
  db: Db,
  election: string = DEFAULT_ELECTION,
): Promise<Lease | null> {
  const e = parse(electionArg, { election }).election;
  const rows = await query(
    db,
    `SELECT election, holder, term, expires_at FROM leader_leases
    WHERE election = $1::text AND expires_at > clock_timestamp()`,
    [e],
  );
  return rows.length ? toLease(rows[0]) : null;
}

/**
 * The `LISTEN` channel on which {@linkcode releaseLeadership} announces a
 * release: `statemgmt_leader:<schema>` for the connection's current schema
 * (hashed when that would exceed PostgreSQL's 63-byte limit), so several
 * sites in one database stay apart. Each notification's payload is JSON:
 * `{"election", "holder", "term"}`.
 *
 * @param db The connection.
 * @returns The channel's name.
 *
 * @example Usage
 * ```ts ignore
 * await sql.listen(await leadershipChannel(sql), (payload) => console.log(payload));
 * ```
 */
export async function leadershipChannel(db: Db): Promise<string> {
  const [row] = await query(db, `SELECT ${CHANNEL_SQL} AS channel`, []);
  return row.channel;
}

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
  const l = parse(leaseSchema, lease);
  const p = new Params();
  // The row is locked whoever holds it; `held` is the fence's own test.
  const [row] = await query(
    tx,
    `SELECT holder, term, expires_at > clock_timestamp() AS live, (${liveLeaseSql(p, l)}) AS held
    FROM leader_leases WHERE election = ${p.add(l.election)}::text
    FOR SHARE`,
    p.values,
  );
  if (row?.held) return;
  throw notLeader(
    l,
    row ? ` (current: ${row.holder}, term ${row.term}, ${row.live ? "live" : "expired"})` : "",
  );
}

/** The channel name as SQL, computed by the server from the current schema. */
const CHANNEL_SQL = `(
    CASE WHEN octet_length('statemgmt_leader:' || current_schema()) <= 63
      THEN 'statemgmt_leader:' || current_schema()
      ELSE 'statemgmt_leader:' || md5(current_schema())
    END)`;
