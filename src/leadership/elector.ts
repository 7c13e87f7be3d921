/**
 * The leader elector: the loop that claims, renews and gives up a lease
 * (see `lease.ts`), and tells the embedding program when it leads, through
 * events and an `AbortSignal` that is aborted on demotion.
 *
 * @module
 */
import postgres from "postgres";
import { z } from "zod";
import type { Sql } from "../db.ts";
import { NotLeaderError, StateError, ValidationError } from "../errors.ts";
import { parse } from "../_validation.ts";
import {
  claimLeadership,
  DEFAULT_ELECTION,
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
   * notifications never arrive (embedded PGlite), polling every `retryMs`
   * still elects a leader.
   * @default true
   */
  listen?: boolean;
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

const MAX_MS = 2_147_483_647;
const ms = z.number().int().positive().max(MAX_MS);
const optionsSchema = z.strictObject({
  election: z.string().min(1).max(128).default(DEFAULT_ELECTION),
  identity: z.string().min(1).max(256).optional(),
  leaseMs: ms.min(100).default(15_000),
  renewMs: ms.optional(),
  retryMs: ms.default(2_000),
  marginMs: ms.optional(),
  listen: z.boolean().default(true),
});

/** A transform that leaves rows as the server sends them (the elector maps them itself). */
const IDENTITY_TRANSFORM = {
  undefined: undefined,
  column: { from: undefined, to: undefined },
  value: { from: undefined, to: undefined },
  row: { from: undefined, to: undefined },
};

type State = "new" | "running" | "stopping" | "stopped";

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
 * the elector's own, derived from `sql`'s options, and `LISTEN` the
 * dedicated listening connection postgres.js keeps beside `sql`'s pool, so
 * neither queues behind the program's work. Stop the elector before
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
  #own: Sql | null = null;
  #state: State = "new";
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  /** The current lease while leading, else `null`. */
  #lease: Lease | null = null;
  /** Until when (monotonic clock) the current lease is trusted. */
  #trustUntil = 0;
  #trustTimer: ReturnType<typeof setTimeout> | undefined;
  #controller: AbortController;
  /** Aborts the renewal in flight (cancels its statement). */
  #renewAbort: AbortController | null = null;
  /** A lease given up without a release that may still be live in the database. */
  #unreleased: Lease | null = null;
  /** Ends the loop's current sleep early. */
  #wake: (() => void) | null = null;
  /** Whether the current sleep ends on a release notification. */
  #wakeOnRelease = false;
  /** A release was announced since the last claim began. */
  #released = false;
  #lastReason: DemotionReason | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #waiters = new Set<{ resolve(lease: Lease): void; reject(err: unknown): void }>();

  /**
   * Creates an elector; it does nothing until {@linkcode start}.
   *
   * @param sql The program's pool; the elector derives its own small pool
   *   from its options for heartbeats, and listens through `sql.listen`.
   * @param options Election, identity and timing.
   * @throws {ValidationError} An option is invalid, or `leaseMs > leaseMs − marginMs > renewMs` does not hold.
   */
  constructor(sql: Sql, options: LeaderElectorOptions = {}) {
    super();
    const o = parse(optionsSchema, options);
    const marginMs = o.marginMs ?? Math.min(1000, Math.floor(o.leaseMs / 5));
    const renewMs = o.renewMs ?? Math.round(o.leaseMs / 3);
    const deadline = o.leaseMs - marginMs;
    if (marginMs >= o.leaseMs) {
      throw new ValidationError([{ path: "marginMs", message: "must be below leaseMs" }]);
    }
    if (renewMs >= deadline) {
      throw new ValidationError([{
        path: "renewMs",
        message: `must be below the renew deadline, leaseMs − marginMs = ${deadline} ms`,
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
    return this.#lease !== null;
  }

  /** The lease while this instance leads, else `null`. */
  get lease(): Lease | null {
    this.#checkTrust();
    return this.#lease;
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
   * they are dispatched as `error` events and the elector keeps trying.
   *
   * @returns A promise that resolves after the first claim attempt, so `isLeader` tells its outcome.
   * @throws {StateError} The elector was stopped (code `"invalid_state"`); an elector starts once.
   */
  start(): Promise<void> {
    if (this.#started) return this.#started;
    if (this.#state !== "new") {
      return Promise.reject(
        new StateError("invalid_state", "a stopped elector cannot start again"),
      );
    }
    this.#state = "running";
    // deno-lint-ignore no-explicit-any
    const options: any = {
      ...this.#sql.options,
      // Named, so that operators can tell heartbeats apart in pg_stat_activity.
      connection: { ...this.#sql.options.connection, application_name: "statemgmt leader elector" },
      max: 1,
      idle_timeout: null,
      onclose: undefined,
      onparameter: undefined,
      transform: IDENTITY_TRANSFORM,
    };
    this.#own = postgres(options);
    const first = Promise.withResolvers<void>();
    this.#loop = this.#run(first.resolve);
    this.#started = first.promise;
    return this.#started;
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
    this.#stopped ??= this.#stop();
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
    if (this.#state === "stopping" || this.#state === "stopped") {
      return Promise.reject(new NotLeaderError(`${this.identity}'s elector is stopped`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<Lease>();
    const onAbort = () => {
      this.#waiters.delete(waiter);
      reject(signal!.reason);
    };
    const waiter = {
      resolve: (l: Lease) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(l);
      },
      reject: (err: unknown) => {
        signal?.removeEventListener("abort", onAbort);
        reject(err);
      },
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#waiters.add(waiter);
    return promise;
  }

  // ------------------------------------------------------------ the loop

  async #run(started: () => void): Promise<void> {
    try {
      if (this.#listen) await this.#listenForReleases();
      let cooldown = false;
      while (this.#state === "running") {
        if (cooldown) {
          // After a demotion, give the others a head start before claiming again.
          cooldown = false;
          await this.#releaseUnreleased();
          await this.#sleep(this.#retryDelay(), false);
          continue;
        }
        const claimed = await this.#claim();
        if (claimed && this.#state === "running") {
          const leading = this.#lead(claimed.lease, claimed.sentAt);
          started(); // #lead has set the lease and dispatched "elected" by now
          await leading;
          cooldown = this.#lastReason !== "stopped";
          continue;
        }
        started();
        if (claimed) {
          this.#unreleased = claimed.lease; // won while stopping: stop() releases it
        } else if (this.#state === "running") {
          if (this.#released) continue; // a release was announced while we claimed
          await this.#sleep(this.#retryDelay(), true);
        }
      }
    } finally {
      started();
    }
  }

  /** One claim; `null` when the lease is held elsewhere, the claim failed or came back too late. */
  async #claim(): Promise<{ lease: Lease; sentAt: number } | null> {
    this.#released = false;
    const sentAt = performance.now();
    let lease: Lease | null;
    try {
      lease = await claimLeadership(this.#own!, {
        election: this.election,
        identity: this.identity,
        leaseMs: this.leaseMs,
      });
    } catch (err) {
      this.#emitError(err);
      return null;
    }
    if (!lease) return null;
    if (performance.now() >= sentAt + this.leaseMs - this.marginMs) {
      // The answer took so long that the lease cannot be trusted: give it back.
      this.#unreleased = lease;
      await this.#releaseUnreleased();
      return null;
    }
    return { lease, sentAt };
  }

  /** Leads until demoted: renews every `renewMs`, each renewal bounded by the trust left. */
  async #lead(lease: Lease, sentAt: number): Promise<void> {
    this.#lease = lease;
    this.#lastReason = null;
    this.#controller = new AbortController();
    this.#trust(sentAt);
    this.dispatchEvent(new LeaderElectorEvent("elected", { lease }));
    for (const waiter of this.#waiters) waiter.resolve(lease);
    this.#waiters.clear();
    const term = lease.term;
    const leading = () => {
      this.#checkTrust();
      return this.#lease?.term === term;
    };
    let nextRenew = sentAt + this.renewMs;
    while (leading()) {
      await this.#sleep(nextRenew - performance.now(), false);
      if (!leading()) break;
      const renewStart = performance.now();
      const abort = new AbortController();
      this.#renewAbort = abort;
      let renewed: Lease | null;
      try {
        renewed = await renewLeadership(this.#own!, this.#lease!, {
          leaseMs: this.leaseMs,
          signal: abort.signal,
        });
      } catch (err) {
        if (leading()) this.#demote("error", err);
        break;
      } finally {
        this.#renewAbort = null;
      }
      if (!leading()) break; // demoted while the renewal was in flight
      if (!renewed) {
        this.#demote("lost");
        break;
      }
      this.#lease = renewed;
      this.#trust(renewStart);
      nextRenew = renewStart + this.renewMs;
    }
  }

  /** Trusts the lease until `from + leaseMs − marginMs` (monotonic clock). */
  #trust(from: number): void {
    this.#trustUntil = from + this.leaseMs - this.marginMs;
    this.#armTrustTimer();
  }

  #armTrustTimer(): void {
    clearTimeout(this.#trustTimer);
    // Timers may fire a little early against performance.now(): re-arm until trust has run out.
    this.#trustTimer = setTimeout(() => {
      this.#trustTimer = undefined;
      if (this.#lease && performance.now() < this.#trustUntil) this.#armTrustTimer();
      else this.#checkTrust();
    }, Math.max(1, Math.ceil(this.#trustUntil - performance.now())));
  }

  #checkTrust(): void {
    if (this.#lease && performance.now() >= this.#trustUntil) this.#demote("expired");
  }

  #demote(reason: DemotionReason, error?: unknown): void {
    const lease = this.#lease;
    if (!lease) return;
    this.#lease = null;
    this.#lastReason = reason;
    clearTimeout(this.#trustTimer);
    this.#trustTimer = undefined;
    // The lease may still be live in the database: give it back (stop() does when stopping).
    if (reason !== "lost") this.#unreleased = lease;
    // A renewal that outlived the trust is cancelled; on stop it is left to finish.
    if (reason === "expired") this.#renewAbort?.abort(new NotLeaderError("renewal timed out"));
    this.#controller.abort(
      new NotLeaderError(`${this.identity} lost leadership at term ${lease.term}: ${reason}`),
    );
    this.#wakeUp();
    this.dispatchEvent(new LeaderElectorEvent("demoted", { lease, reason, error }));
    if (reason === "error") this.#emitError(error, lease);
  }

  /** Releases a lease this elector gave up without releasing; errors become events. */
  async #releaseUnreleased(): Promise<void> {
    const lease = this.#unreleased;
    if (!lease) return;
    this.#unreleased = null;
    try {
      await releaseLeadership(this.#own!, lease);
    } catch (err) {
      this.#emitError(err, lease);
    }
  }

  async #listenForReleases(): Promise<void> {
    try {
      const channel = await leadershipChannel(this.#own!);
      // postgres.js LISTENs on a connection of its own, apart from the pool's
      // queries; going through the program's pool shares it between electors
      // and lets an embedded database route notifications its own way.
      const { unlisten } = await this.#sql.listen(channel, (payload) => this.#onRelease(payload));
      this.#unlisten = unlisten;
    } catch (err) {
      // Polling every retryMs still elects a leader; report why handover is slower.
      this.#emitError(err);
    }
  }

  #onRelease(payload: string): void {
    let election: unknown;
    try {
      election = JSON.parse(payload).election;
    } catch (err) {
      this.#emitError(
        new StateError("invalid_notification", `bad release notification: ${payload}`, {
          cause: err,
        }),
      );
      return;
    }
    if (election !== this.election) return;
    this.#released = true;
    if (this.#wakeOnRelease) this.#wakeUp();
  }

  #sleep(ms: number, wakeOnRelease: boolean): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const done = () => {
      clearTimeout(timer);
      if (this.#wake === done) {
        this.#wake = null;
        this.#wakeOnRelease = false;
      }
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    this.#wake = done;
    this.#wakeOnRelease = wakeOnRelease;
    return promise;
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  #retryDelay(): number {
    return this.retryMs * (0.5 + Math.random() * 0.5);
  }

  #emitError(error: unknown, lease: Lease | null = this.#lease): void {
    this.dispatchEvent(new LeaderElectorEvent("error", { lease, error }));
  }

  // ------------------------------------------------------------ stopping

  async #stop(): Promise<void> {
    const wasRunning = this.#state === "running";
    this.#state = "stopping";
    if (wasRunning) {
      this.#demote("stopped");
      this.#wakeUp();
      // Let the statement in flight finish (a renewal must land before the
      // release); past a lease it no longer matters, so cut it short.
      if (!(await settlesWithin(this.#loop!, this.leaseMs))) {
        await this.#own!.end({ timeout: 0 });
        await this.#loop;
      }
      if (this.#unreleased) {
        const lease = this.#unreleased;
        this.#unreleased = null;
        try {
          if (!(await settlesWithin(releaseLeadership(this.#own!, lease), this.leaseMs))) {
            throw new StateError(
              "timeout",
              `releasing term ${lease.term} took over ${this.leaseMs} ms`,
            );
          }
        } catch (err) {
          this.#emitError(err, lease);
        }
      }
      if (this.#unlisten) {
        try {
          await this.#unlisten();
        } catch (err) {
          this.#emitError(err);
        }
      }
      await this.#own!.end({ timeout: 1 });
    }
    this.#state = "stopped";
    for (const waiter of this.#waiters) {
      waiter.reject(new NotLeaderError(`${this.identity}'s elector stopped`));
    }
    this.#waiters.clear();
  }
}

/** Whether `promise` settles within `ms`; its rejection, if any, is rethrown. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(resolve, ms, false));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
