/**
 * The leader elector: the loop that claims, renews and gives up a lease
 * (see `lease.ts`), and tells the embedding program when it leads, through
 * events and an `AbortSignal` that is aborted on demotion.
 *
 * @module
 */
import postgres from "postgres";
import { z } from "zod";
import { assertSql, query, type Sql, toDate } from "../db.ts";
import { NotLeaderError, StateError, ValidationError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { Code } from "../_codes.ts";
import { abortable, deadline, settlesWithin, sleep } from "../_async.ts";
import { actor, electionName, timerMs } from "../_schemas.ts";
import {
  claimLeadership,
  DEFAULT_ELECTION,
  getLeader,
  leadershipChannel,
  type Lease,
  releaseLeadership,
  renewLeadership,
} from "./lease.ts";

export type { Lease, Sql };

/** What a {@linkcode LeaderElector} takes. */
export interface LeaderElectorOptions {
  /**
   * The election to take part in (1–128 characters).
   * @default "default"
   */
  election?: string;
  /**
   * This instance's name in the election (1–256 characters); must be unique
   * among the instances.
   * @default a fresh random UUID
   */
  identity?: string;
  /**
   * How long a lease lasts on the database clock, in milliseconds: the
   * longest a crashed leader keeps the others waiting.
   * @default 15000
   */
  leaseMs?: number;
  /**
   * How often the leader renews its lease, in milliseconds. Must be below
   * the renew deadline, `leaseMs − marginMs`.
   * @default leaseMs / 3, rounded (5000 with the default lease)
   */
  renewMs?: number;
  /**
   * How often a follower tries to claim, in milliseconds; each wait is
   * jittered down to half of it so that followers do not move in step.
   * A release is noticed at once through `LISTEN`; this is the fallback.
   * @default 2000
   */
  retryMs?: number;
  /**
   * How long before its lease would expire the leader stops trusting it, in
   * milliseconds, to allow for clock-rate drift and latency.
   * @default min(1000, leaseMs / 5)
   */
  marginMs?: number;
  /**
   * Whether followers `LISTEN` for releases. When `LISTEN` fails or
   * notifications never arrive (embedded PGlite, PgBouncer's transaction
   * pooling), polling every `retryMs` still elects a leader; the elector
   * checks with a probe notification at start and reports an `error`
   * event (code `"timeout"`) when its own probe does not come back.
   * @default true
   */
  listen?: boolean;
  /**
   * The pool to `LISTEN` through, when it should not be `sql`: behind
   * PgBouncer in transaction mode, a pool connected to PostgreSQL directly
   * (`max: 1` is enough), so that a release is noticed at once instead of
   * at the next poll. The elector only listens on it; it never ends it.
   * @default sql
   */
  listenSql?: Sql;
}

/** Why a leader stopped leading. */
export type DemotionReason =
  /** `stop()` was called; the lease was released. */
  | "stopped"
  /** A renewal matched no row: the lease expired in the database or another instance took it. */
  | "lost"
  /** The lease could not be renewed in time: trust ran out on the local monotonic clock. */
  | "expired"
  /** A renewal failed with an error (carried by the event). */
  | "error";

/** The types of the events a {@linkcode LeaderElector} dispatches. */
export type LeaderElectorEventType = "elected" | "demoted" | "error";

/** What a {@linkcode LeaderElectorEvent} carries. */
export interface LeaderElectorEventInit {
  /** The lease won (`elected`), lost (`demoted`), or held when the error happened. */
  lease?: Lease | null;
  /** Why leadership ended (`demoted` only). */
  reason?: DemotionReason | null;
  /** The error (`error`, and `demoted` for reason `"error"`). */
  error?: unknown;
}

/**
 * An event of a {@linkcode LeaderElector}: `elected` (this instance now
 * leads), `demoted` (it no longer does) or `error` (a database call failed;
 * the elector keeps trying).
 *
 * @example Usage
 * ```ts ignore
 * elector.addEventListener("demoted", (e) => console.log(e.reason, e.lease?.term));
 * elector.addEventListener("error", (e) => console.error(e.error));
 * ```
 */
export class LeaderElectorEvent extends Event {
  /** The lease won (`elected`), lost (`demoted`), or held at the time (`error`). */
  readonly lease: Lease | null;
  /** Why leadership ended, for `demoted`; else `null`. */
  readonly reason: DemotionReason | null;
  /** The error, for `error` and for `demoted` with reason `"error"`; else `undefined`. */
  readonly error: unknown;

  /**
   * Creates an event of the given type.
   *
   * @param type The event's type.
   * @param init The lease, reason and error it carries.
   */
  constructor(type: LeaderElectorEventType, init: LeaderElectorEventInit = {}) {
    super(type);
    this.lease = init.lease ?? null;
    this.reason = init.reason ?? null;
    this.error = init.error;
  }
}

/** The listener of a {@linkcode LeaderElector} event. */
export type LeaderElectorListener = (event: LeaderElectorEvent) => void;

const optionsSchema = z.strictObject({
  election: electionName.default(DEFAULT_ELECTION),
  identity: actor.optional(),
  leaseMs: timerMs.min(100).default(15_000),
  renewMs: timerMs.optional(),
  retryMs: timerMs.default(2_000),
  marginMs: timerMs.optional(),
  listen: z.boolean().default(true),
  listenSql: z.custom<Sql>((v) => typeof v === "function" && "listen" in v, {
    message: "must be a postgres.js pool",
  }).optional(),
});

/**
 * How long after the elector's connection closed postgres.js waits before
 * it reconnects (seconds). Not its default exponential back-off
 * (`3^retries / 100` s up to 20 s, counted over every failed attempt): that
 * kept a follower from claiming for 7.8–12 s after a 5 s outage ended
 * (lease 3 s, retry 0.5 s). The elector paces its own attempts, one per
 * `retryMs` or `renewMs`, so a short fixed delay cannot spin.
 */
const RECONNECT_DELAY_S = 0.1;

type Phase = "new" | "following" | "leading" | "stopping" | "stopped";

/**
 * Where an elector may go from each phase. `#transition` makes every
 * change of phase and refuses any other (a bug). Leaving "leading" is a
 * demotion: back to "following" when the lease was lost, its trust expired
 * or a renewal failed, to "stopping" (reason "stopped") on `stop()`.
 */
const TRANSITIONS: { readonly [from in Phase]: readonly Phase[] } = {
  new: ["following", "stopping"], // start(); stop() before start()
  following: ["leading", "stopping"], // a claim won in time; stop()
  leading: ["following", "stopping"], // demoted; stop()
  stopping: ["stopped"], // the loop ended, the lease released, the pool closed
  stopped: [],
};

/** A claim that won: the lease, and when it was sent (monotonic clock). */
interface Claim {
  lease: Lease;
  sentAt: number;
}

/** The term this elector leads: it exists exactly while the phase is "leading". */
interface Term {
  /** The lease, replaced by each renewal. */
  lease: Lease;
  /** Until when (monotonic clock) the lease is trusted. */
  trustUntil: number;
  trustTimer: ReturnType<typeof setTimeout> | undefined;
  /** Aborts the renewal in flight (cancels its statement). */
  renewal: AbortController | null;
}

/** What a change of phase carries: the claim that enters "leading", or why a term ends. */
interface Change {
  claim?: Claim;
  /** Why the term ends, when leaving "leading"; "stopped" when not given. */
  reason?: DemotionReason;
  error?: unknown;
}

/** A pending {@linkcode LeaderElector.prototype.waitForLeadership} call. */
interface Waiter {
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

/**
 * Elects one leader among several instances sharing a database, with a
 * lease in `leader_leases` and its term as fencing token.
 *
 * A follower claims the lease when it is free: at once when the leader
 * releases it (`LISTEN`), else every `retryMs` (jittered). The leader
 * renews every `renewMs`, and trusts its lease only until the start of its
 * last successful renewal plus `leaseMs − marginMs`, on its own monotonic
 * clock: it demotes itself when that passes, when a renewal fails, or when
 * a renewal finds the lease gone, and aborts {@linkcode signal} so that
 * in-flight work stops. Each renewal is time-boxed to the trust left.
 * Heartbeats (claims, renewals, releases) use a one-connection pool of
 * the elector's own, derived from `sql`'s options (but reconnecting
 * 100 ms after a loss, not on postgres.js's growing back-off, so that a
 * follower leads within a lease and a retry of the database's return), and
 * `LISTEN` the dedicated listening connection postgres.js keeps beside
 * `sql`'s pool (or `listenSql`'s, behind PgBouncer), so neither queues
 * behind the program's work. Stop the elector before
 * ending `sql`. Writes that must come from the leader are fenced in the database
 * with `assertLeadership(tx, lease)` or a `lease` option.
 *
 * Events: `elected`, `demoted` (with a {@linkcode DemotionReason}) and
 * `error` (database errors; the elector keeps trying), each a
 * {@linkcode LeaderElectorEvent}. Listen for `error`: it is how failures
 * are reported.
 *
 * @example Usage
 * ```ts ignore
 * const elector = new LeaderElector(sql, { leaseMs: 15_000 });
 * elector.addEventListener("error", (e) => console.error("election:", e.error));
 * await elector.start();
 * const lease = await elector.waitForLeadership();
 * const signal = elector.signal; // aborted when this instance is demoted
 * await recoverTasks(sql, lease);
 * while (!signal.aborted) {
 *   const task = await claimNextTask(sql, { lease: elector.lease! });
 *   if (task) await run(task, signal);
 * }
 * await elector.stop(); // releases: another instance leads within milliseconds
 * ```
 */
export class LeaderElector extends EventTarget {
  /** The election this elector takes part in. */
  readonly election: string;
  /** This instance's name in the election. */
  readonly identity: string;
  /** The lease length, in milliseconds. */
  readonly leaseMs: number;
  /** The renewal interval, in milliseconds. */
  readonly renewMs: number;
  /** The follower's polling interval, in milliseconds (before jitter). */
  readonly retryMs: number;
  /** The trust margin, in milliseconds. */
  readonly marginMs: number;

  #sql: Sql;
  #listen: boolean;
  #listenSql: Sql;
  /**
   * When the first claim whose answer never came (an error: it may have
   * committed) was sent, on the monotonic clock; `null` when none is pending.
   * The next claim looks for it in the database first ({@linkcode #adoptLostClaim}).
   */
  #lostClaimAt: number | null = null;
  /** The highest term this elector has known itself to hold. */
  #knownTerm = 0;
  /** Ends the start-up check that notifications arrive, on stop. */
  #probe = { id: crypto.randomUUID(), arrived: new AbortController(), stop: new AbortController() };
  #own: Sql | null = null;
  /** Written by `#transition` only, as `#term` is; see {@linkcode TRANSITIONS}. */
  #phase: Phase = "new";
  /** The current term while leading, else `null`. */
  #term: Term | null = null;
  /** The current term's controller; an aborted one while not leading. */
  #controller: AbortController;
  /**
   * A lease that may be live in the database though this elector will not
   * use it (given up by a demotion, or won too late or while stopping),
   * until `#releaseUnreleased` gives it back.
   */
  #unreleased: Lease | null = null;
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  /** The loop's current sleep: `#wakeUp` ends it, and so does a release if `onRelease`. */
  #nap: { wake: AbortController; onRelease: boolean } | null = null;
  /** A release was announced since the last claim began. */
  #released = false;
  #unlisten: (() => Promise<void>) | null = null;
  #probing: Promise<void> | null = null;
  #waiters = new Set<Waiter>();

  /**
   * Creates an elector; it does nothing until {@linkcode start}.
   *
   * @param sql The program's pool; the elector derives its own small pool
   *   from its options for heartbeats, and listens through `sql.listen`
   *   (`listenSql.listen` when given).
   * @param options Election, identity and timing.
   * @throws {TypeError} `sql` is not a postgres.js pool (missing, a URL, a node-postgres pool).
   * @throws {ValidationError} An option is invalid, or `leaseMs > leaseMs − marginMs > renewMs` does not hold.
   */
  constructor(sql: Sql, options: LeaderElectorOptions = {}) {
    super();
    assertSql(sql, "LeaderElector");
    const o = parse(optionsSchema, options);
    const marginMs = o.marginMs ?? Math.min(1000, Math.floor(o.leaseMs / 5));
    const renewMs = o.renewMs ?? Math.round(o.leaseMs / 3);
    const renewDeadline = o.leaseMs - marginMs;
    if (marginMs >= o.leaseMs) {
      throw new ValidationError([{ path: "marginMs", message: "must be below leaseMs" }]);
    }
    if (renewMs >= renewDeadline) {
      throw new ValidationError([{
        path: "renewMs",
        message: `must be below the renew deadline, leaseMs − marginMs = ${renewDeadline} ms`,
      }]);
    }
    this.#sql = sql;
    this.election = o.election;
    this.identity = o.identity ?? crypto.randomUUID();
    this.leaseMs = o.leaseMs;
    this.renewMs = renewMs;
    this.retryMs = o.retryMs;
    this.marginMs = marginMs;
    this.#listen = o.listen;
    this.#listenSql = o.listenSql ?? sql;
    this.#controller = new AbortController();
    this.#controller.abort(new NotLeaderError(`${this.identity} has not been elected`));
  }

  /**
   * Adds a listener for `elected`, `demoted` or `error`.
   *
   * @param type The event type.
   * @param listener Called with the {@linkcode LeaderElectorEvent}.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: LeaderElectorEventType,
    listener: LeaderElectorListener | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds a listener, as `EventTarget.addEventListener` does.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | LeaderElectorListener | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  /**
   * Removes a listener added with `addEventListener`.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: LeaderElectorEventType,
    listener: LeaderElectorListener | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener, as `EventTarget.removeEventListener` does.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | LeaderElectorListener | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  /** Whether this instance leads now (its lease is still trusted). */
  get isLeader(): boolean {
    this.#checkTrust();
    return this.#term !== null;
  }

  /** The lease while this instance leads, else `null`. */
  get lease(): Lease | null {
    this.#checkTrust();
    return this.#term?.lease ?? null;
  }

  /**
   * The current term's signal: live while this instance leads, aborted
   * (with a `NotLeaderError`) once it is demoted or when it does not lead.
   */
  get signal(): AbortSignal {
    this.#checkTrust();
    return this.#controller.signal;
  }

  /**
   * Starts taking part in the election: opens the elector's own pool,
   * listens for releases and makes a first claim. Errors do not reject it:
   * they are dispatched as `error` events and the elector keeps trying;
   * only a database that cannot host an election (not migrated) does, and
   * `start()` may then be called again after `migrate()`.
   *
   * @returns A promise that resolves after the first claim attempt, so `isLeader` tells its outcome.
   * @throws {StateError} The elector was stopped (code `"invalid_state"`); an elector starts once.
   * @throws {StateError} Code `"not_migrated"`: the election table is missing; run `migrate()`.
   */
  start(): Promise<void> {
    if (this.#started) return this.#started;
    if (this.#phase !== "new") {
      return Promise.reject(
        new StateError(Code.InvalidState, "a stopped elector cannot start again"),
      );
    }
    this.#started = this.#canHostElection().then(() => {
      if (this.#phase !== "new") return; // stop() came first
      this.#transition("following");
      this.#own = postgres(heartbeatOptions(this.#sql, this.leaseMs));
      let started!: () => void;
      const firstClaim = new Promise<void>((resolve) => started = resolve);
      this.#loop = this.#run(started);
      return firstClaim;
    }, (err) => {
      this.#started = null; // start() may be called again once migrated
      throw err;
    });
    return this.#started;
  }

  /**
   * Rejects when the database cannot host the election at all (not
   * migrated: `leader_leases` is missing), instead of a start that resolves
   * and a `waitForLeadership()` that waits forever. Any other failure is
   * the loop's to report (`error` events) and retry.
   */
  async #canHostElection(): Promise<void> {
    try {
      await getLeader(this.#sql, this.election);
    } catch (err) {
      if (err instanceof StateError && err.code === Code.NotMigrated) throw err;
    }
  }

  /**
   * Stops: demotes (aborting {@linkcode signal}) if leading, waits for the
   * statement in flight, releases the lease so that another instance leads
   * within milliseconds, and closes the elector's pool. A release that
   * fails is dispatched as an `error` event; the lease then expires on its
   * own. Pending {@linkcode waitForLeadership} calls reject.
   *
   * @returns A promise that resolves once the lease is released and the pool closed.
   */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    let settle!: (stopping: Promise<void>) => void;
    this.#stopped = new Promise<void>((resolve) => settle = resolve);
    // Set before #stop runs: a "demoted" listener may call stop() again from inside it.
    settle(this.#stop());
    return this.#stopped;
  }

  /**
   * Resolves with the lease once this instance leads (at once if it does).
   *
   * @param signal Gives up waiting when aborted.
   * @returns The lease.
   * @throws {NotLeaderError} The elector stopped before this instance was elected.
   * @throws {DOMException} `signal` was aborted (its reason is thrown).
   */
  waitForLeadership(signal?: AbortSignal): Promise<Lease> {
    const lease = this.lease;
    if (lease) return Promise.resolve(lease);
    if (this.#phase === "stopping" || this.#phase === "stopped") {
      return Promise.reject(new NotLeaderError(`${this.identity}'s elector is stopped`));
    }
    let waiter!: Waiter;
    const elected = new Promise<Lease>((resolve, reject) => waiter = { resolve, reject });
    this.#waiters.add(waiter);
    return abortable(elected, signal, () => this.#waiters.delete(waiter));
  }

  // ------------------------------------------------------------ the state machine

  /**
   * Changes the phase, the one place that does, refusing a change that
   * {@linkcode TRANSITIONS} does not list; entering and leaving "leading"
   * begin and end the term.
   */
  #transition(to: Phase, change: Change = {}): void {
    const from = this.#phase;
    if (!TRANSITIONS[from].includes(to)) {
      throw new StateError(Code.InvalidState, `an elector cannot go from ${from} to ${to}`);
    }
    this.#phase = to;
    if (from === "leading") this.#endTerm(change.reason ?? "stopped", change.error);
    if (to === "leading") this.#beginTerm(change.claim!);
    if (to === "stopping") this.#wakeUp();
    if (to === "stopped") {
      for (const waiter of this.#waiters) {
        waiter.reject(new NotLeaderError(`${this.identity}'s elector stopped`));
      }
      this.#waiters.clear();
    }
  }

  #beginTerm({ lease, sentAt }: Claim): void {
    const term: Term = { lease, trustUntil: 0, trustTimer: undefined, renewal: null };
    this.#term = term;
    this.#controller = new AbortController();
    this.#trust(term, sentAt);
    this.dispatchEvent(new LeaderElectorEvent("elected", { lease }));
    for (const waiter of this.#waiters) waiter.resolve(lease);
    this.#waiters.clear();
  }

  #endTerm(reason: DemotionReason, error: unknown): void {
    const { lease, trustTimer, renewal } = this.#term!;
    this.#term = null;
    clearTimeout(trustTimer);
    // The lease may still be live in the database: give it back (stop() does when stopping).
    if (reason !== "lost") this.#unreleased = lease;
    // A renewal that outlived the trust is cancelled; on stop it is left to finish.
    if (reason === "expired") renewal?.abort(new NotLeaderError("renewal timed out"));
    this.#controller.abort(
      new NotLeaderError(`${this.identity} lost leadership at term ${lease.term}: ${reason}`),
    );
    this.#wakeUp();
    this.dispatchEvent(new LeaderElectorEvent("demoted", { lease, reason, error }));
    if (reason === "error") this.#emitError(error, lease);
  }

  /** Trusts the lease until `from + leaseMs − marginMs` (monotonic clock). */
  #trust(term: Term, from: number): void {
    term.trustUntil = from + this.leaseMs - this.marginMs;
    this.#armTrustTimer(term);
  }

  #armTrustTimer(term: Term): void {
    clearTimeout(term.trustTimer);
    // Timers may fire a little early against performance.now(): re-arm until trust has run out.
    term.trustTimer = setTimeout(() => {
      term.trustTimer = undefined;
      if (this.#term === term && performance.now() < term.trustUntil) this.#armTrustTimer(term);
      else this.#checkTrust();
    }, Math.max(1, Math.ceil(term.trustUntil - performance.now())));
  }

  #checkTrust(): void {
    const term = this.#term;
    if (term && performance.now() >= term.trustUntil) {
      this.#transition("following", { reason: "expired" });
    }
  }

  /** Whether `term` is still the one this elector leads (trust checked first). */
  #leads(term: Term | null): term is Term {
    this.#checkTrust();
    return term !== null && this.#term === term;
  }

  // ------------------------------------------------------------ the loop

  async #run(started: () => void): Promise<void> {
    try {
      if (this.#listen) await this.#listenForReleases();
      while (this.#phase === "following") {
        const claim = await this.#claim();
        if (claim && this.#phase === "following" && this.#inTime(claim)) {
          const leading = this.#lead(claim);
          started(); // #lead has set the lease and dispatched "elected" by now
          await leading;
          if (this.#phase !== "following") break;
          // After a demotion, give the others a head start before claiming again.
          await this.#releaseUnreleased();
          await this.#sleep(this.#retryDelay(), false);
          continue;
        }
        // Won too late to be trusted, or while stopping: it may be live, give it back.
        if (claim) this.#unreleased = claim.lease;
        if (this.#phase !== "following") break; // stop() releases it
        await this.#releaseUnreleased();
        started();
        if (this.#released) continue; // a release was announced while we claimed
        await this.#sleep(this.#retryDelay(), true);
      }
    } finally {
      started();
    }
  }

  /** One claim; `null` when the lease is held elsewhere or the claim failed. */
  async #claim(): Promise<Claim | null> {
    this.#released = false;
    const sentAt = performance.now();
    try {
      const adopted = await this.#adoptLostClaim();
      if (adopted) return adopted;
      const lease = await claimLeadership(this.#own!, {
        election: this.election,
        identity: this.identity,
        leaseMs: this.leaseMs,
      });
      if (lease) this.#knownTerm = Math.max(this.#knownTerm, lease.term);
      return lease && { lease, sentAt };
    } catch (err) {
      // The claim may have committed before its answer was lost (the server
      // went away mid-statement): look for it before claiming again.
      this.#lostClaimAt ??= sentAt;
      this.#emitError(err);
      return null;
    }
  }

  /**
   * After a claim whose answer was lost: this identity's live lease, if
   * one of those claims won. A term newer than any this elector knew is
   * that claim's, adopted as if its answer had come (trusted from when the
   * first lost claim was sent, so never longer than the database's lease);
   * an older one is a lease given up earlier, released. So a lost claim
   * never burns a term silently, and never blocks the others for a lease.
   */
  async #adoptLostClaim(): Promise<Claim | null> {
    const sentAt = this.#lostClaimAt;
    if (sentAt === null) return null;
    const [row] = await query(
      this.#own!,
      `SELECT election, holder, term, expires_at FROM leader_leases
      WHERE election = $1::text AND holder = $2::text AND expires_at > clock_timestamp()`,
      [this.election, this.identity],
    );
    this.#lostClaimAt = null;
    if (!row) return null;
    const lease: Lease = {
      election: row.election,
      holder: row.holder,
      term: Number(row.term),
      expiresAt: toDate(row.expires_at),
    };
    if (lease.term > this.#knownTerm) {
      this.#knownTerm = lease.term;
      return { lease, sentAt };
    }
    this.#unreleased = lease;
    await this.#releaseUnreleased();
    return null;
  }

  /** Whether the claim's answer came soon enough for its lease to be trusted at all. */
  #inTime(claim: Claim): boolean {
    return performance.now() < claim.sentAt + this.leaseMs - this.marginMs;
  }

  /** Leads until demoted: renews every `renewMs`, each renewal bounded by the trust left. */
  async #lead(claim: Claim): Promise<void> {
    this.#transition("leading", { claim });
    const term = this.#term;
    let nextRenew = claim.sentAt + this.renewMs;
    while (this.#leads(term)) {
      await this.#sleep(nextRenew - performance.now(), false);
      if (!this.#leads(term)) break;
      const renewStart = performance.now();
      const renewed = await this.#renew(term);
      if (!renewed) break;
      term.lease = renewed;
      this.#trust(term, renewStart);
      nextRenew = renewStart + this.renewMs;
    }
  }

  /**
   * One renewal of `term`'s lease: the renewed lease, or `null` when the
   * term has ended (demoted here for an error or a lost lease, or while the
   * renewal was in flight).
   */
  async #renew(term: Term): Promise<Lease | null> {
    const abort = new AbortController();
    term.renewal = abort;
    let renewed: Lease | null;
    try {
      renewed = await renewLeadership(this.#own!, term.lease, {
        leaseMs: this.leaseMs,
        signal: abort.signal,
      });
    } catch (err) {
      if (this.#leads(term)) this.#transition("following", { reason: "error", error: err });
      return null;
    } finally {
      term.renewal = null;
    }
    if (!this.#leads(term)) return null; // demoted while the renewal was in flight
    if (!renewed) this.#transition("following", { reason: "lost" });
    return renewed;
  }

  /**
   * Gives back the lease in `#unreleased`, if any: the one drain of claims
   * that may have landed unconfirmed. `withinMs` bounds the wait (stop()
   * must end; in the loop, the next claim waits behind it anyway). A
   * failure or a time-out becomes an `error` event.
   */
  async #releaseUnreleased(withinMs?: number): Promise<void> {
    const lease = this.#unreleased;
    if (!lease) return;
    this.#unreleased = null;
    try {
      const released = releaseLeadership(this.#own!, lease);
      if (withinMs === undefined) await released;
      else {
        await deadline(
          released,
          withinMs,
          () =>
            new StateError(Code.Timeout, `releasing term ${lease.term} took over ${withinMs} ms`),
        );
      }
    } catch (err) {
      // Kept to try again before the next claim: released when the server
      // returns, the lease does not keep the others waiting out its length.
      if (withinMs === undefined) this.#unreleased ??= lease;
      this.#emitError(err, lease);
    }
  }

  async #listenForReleases(): Promise<void> {
    try {
      const channel = await leadershipChannel(this.#own!);
      // postgres.js LISTENs on a connection of its own, apart from the pool's
      // queries; going through the program's pool shares it between electors
      // and lets an embedded database route notifications its own way.
      const { unlisten } = await this.#listenSql.listen(
        channel,
        (payload) => this.#onRelease(payload),
      );
      this.#unlisten = unlisten;
      this.#probing = this.#probeListen(channel);
    } catch (err) {
      // Polling every retryMs still elects a leader; report why handover is slower.
      this.#emitError(err);
    }
  }

  /**
   * Notifies its own channel once and reports an `error` when that does not
   * come back within `max(1000, retryMs)` ms: a LISTEN through PgBouncer's
   * transaction pooling succeeds and then receives nothing, silently (measured
   * hand-over by polling there: 360–670 ms with retryMs 500, against 2–10 ms).
   */
  async #probeListen(channel: string): Promise<void> {
    const waitMs = Math.max(1000, this.retryMs);
    const { id, arrived, stop } = this.#probe;
    try {
      await query(this.#own!, `SELECT pg_notify($1::text, $2::text)`, [
        channel,
        JSON.stringify({ election: this.election, probe: id }),
      ]);
    } catch (err) {
      this.#emitError(err);
      return;
    }
    await sleep(waitMs, AbortSignal.any([arrived.signal, stop.signal]));
    if (arrived.signal.aborted || stop.signal.aborted) return;
    this.#emitError(
      new StateError(
        Code.Timeout,
        `LISTEN ${channel} received no notification within ${waitMs} ms (PgBouncer in ` +
          `transaction mode?): releases are noticed only by polling every ${this.retryMs} ms; ` +
          `pass listenSql, a pool connected to PostgreSQL directly, or listen: false`,
      ),
    );
  }

  #onRelease(payload: string): void {
    let election: unknown, probe: unknown;
    try {
      ({ election, probe } = JSON.parse(payload));
    } catch (err) {
      this.#emitError(
        new StateError(Code.InvalidNotification, `bad release notification: ${payload}`, {
          cause: err,
        }),
      );
      return;
    }
    if (election !== this.election) return;
    if (probe !== undefined) {
      if (probe === this.#probe.id) this.#probe.arrived.abort();
      return; // a start-up probe (ours or another elector's), not a release
    }
    this.#released = true;
    if (this.#nap?.onRelease) this.#wakeUp();
  }

  /** Sleeps up to `ms`; `#wakeUp` ends it early, and so does a release if `onRelease`. */
  async #sleep(ms: number, onRelease: boolean): Promise<void> {
    // Once stopping, the loop only winds down: stop() is waiting for it.
    if (this.#phase === "stopping") return;
    const nap = { wake: new AbortController(), onRelease };
    this.#nap = nap;
    await sleep(ms, nap.wake.signal);
    if (this.#nap === nap) this.#nap = null;
  }

  #wakeUp(): void {
    const nap = this.#nap;
    this.#nap = null;
    nap?.wake.abort();
  }

  #retryDelay(): number {
    return this.retryMs * (0.5 + Math.random() * 0.5);
  }

  #emitError(error: unknown, lease: Lease | null = this.#term?.lease ?? null): void {
    this.dispatchEvent(new LeaderElectorEvent("error", { lease, error }));
  }

  // ------------------------------------------------------------ stopping

  async #stop(): Promise<void> {
    const running = this.#phase === "following" || this.#phase === "leading";
    this.#transition("stopping", { reason: "stopped" });
    if (running) {
      // Let the statement in flight finish (a renewal must land before the
      // release); past a lease it no longer matters, so cut it short.
      if (!(await settlesWithin(this.#loop!, this.leaseMs))) {
        await this.#own!.end({ timeout: 0 });
        await this.#loop;
      }
      await this.#releaseUnreleased(this.leaseMs);
      this.#probe.stop.abort();
      await this.#probing;
      if (this.#unlisten) {
        try {
          await this.#unlisten();
        } catch (err) {
          this.#emitError(err);
        }
      }
      await this.#own!.end({ timeout: 1 });
    }
    this.#transition("stopped");
  }
}

/**
 * The options of the elector's own pool: `sql`'s, for one connection that
 * stays open, reconnects at once after an outage, and gives up connecting
 * within a lease (a claim still waiting to connect is no use after that).
 */
// deno-lint-ignore no-explicit-any
function heartbeatOptions(sql: Sql, leaseMs: number): any {
  const connectTimeoutS = Math.max(1, Math.ceil(leaseMs / 1000));
  return {
    ...sql.options,
    backoff: RECONNECT_DELAY_S,
    connect_timeout: Math.min(sql.options.connect_timeout ?? 30, connectTimeoutS),
    // Named, so that operators can tell heartbeats apart in pg_stat_activity.
    connection: { ...sql.options.connection, application_name: "statemgmt leader elector" },
    max: 1,
    idle_timeout: null,
    onclose: undefined,
    onparameter: undefined,
    transform: IDENTITY_TRANSFORM,
  };
}

/** A transform that leaves rows as the server sends them (the elector maps them itself). */
const IDENTITY_TRANSFORM = {
  undefined: undefined,
  column: { from: undefined, to: undefined },
  value: { from: undefined, to: undefined },
  row: { from: undefined, to: undefined },
};
