/**
 * Cancellation plumbing, written once: a wait the caller may abandon, a
 * postgres.js statement it may cancel, delays that end on abort, a signal
 * bounded by a time-out, and a time-boxed promise. Each one clears its timer
 * and removes its abort listener once it settles: Deno's test sanitizers
 * are on, and a long-lived signal (a caller's, an elector's) must not
 * collect listeners.
 *
 * Small equivalents of Deno std's `abortable`, `delay` and `deadline`
 * (jsr.io is unreachable at build time). Resolvers are captured from
 * `new Promise`, not taken from `Promise.withResolvers`, which Node 20 lacks.
 *
 * @module
 */

/**
 * Settles as `promise` does, unless `signal` aborts first (or has already):
 * then it rejects with `signal.reason` and calls `onAbort`. `promise` is
 * left to run; its late outcome is ignored. Like `Promise.race`, it takes
 * a plain value too (a custom resolver may return one).
 */
export function abortable<T>(
  promise: T | PromiseLike<T>,
  signal: AbortSignal | undefined,
  onAbort?: () => void,
): Promise<T> {
  if (!signal) return toPromise(promise);
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      reject(signal.reason);
      onAbort?.();
    };
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
    toPromise(promise).then(resolve, reject)
      .finally(() => signal.removeEventListener("abort", abort));
  });
}

/**
 * A promise as it is: its `then` runs now, not in a later microtask as
 * `Promise.resolve` would call a subclass's (a postgres.js query is sent
 * when its `then` runs).
 */
function toPromise<T>(value: T | PromiseLike<T>): Promise<T> {
  return value instanceof Promise ? value : Promise.resolve(value);
}

/** A statement the caller may abandon: an abort rejects at once and cancels it. */
export function cancellable<T>(
  query: Promise<T> & { cancel(): void },
  signal: AbortSignal | undefined,
): Promise<T> {
  // postgres.js sends a query only once it is awaited: an early abort sends nothing.
  if (signal?.aborted) return Promise.reject(signal.reason);
  return abortable(query, signal, () => {
    // Ask the server to stop the statement, so it no longer holds the
    // connection. Its late outcome (a cancel error, or a result) is moot:
    // the caller was told the statement failed and acts on that.
    query.cancel();
  });
}

/**
 * Resolves after `ms`, or rejects with `signal.reason` as soon as `signal`
 * aborts (at once if it has); the timer is cleared on abort.
 */
export function delay(ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  return timer(ms, options.signal, true);
}

/**
 * Resolves after `ms`, or early as soon as `wake` aborts: a loop's sleep
 * that an event may cut short, which is not a failure. Never rejects; the
 * timer is cleared on a wake.
 */
export function sleep(ms: number, wake: AbortSignal): Promise<void> {
  return timer(ms, wake, false);
}

function timer(ms: number, signal: AbortSignal | undefined, rejects: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const end = () => rejects ? reject(signal!.reason) : resolve();
    if (signal?.aborted) return end();
    const onAbort = () => {
      clearTimeout(id);
      end();
    };
    const id = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A signal that follows a parent signal and times out by itself; see {@linkcode timeoutSignal}. */
export interface TimeoutSignal {
  /** Aborted with the parent's reason when it aborts, or with the time-out's reason after `ms`. */
  readonly signal: AbortSignal;
  /** Whether the time-out fired. */
  readonly timedOut: boolean;
  /** Clears the timer and the listener on the parent: call it once the work is done. */
  clear(): void;
}

/**
 * A signal for one attempt: aborted when `parent` aborts (with its reason)
 * or after `ms` (with `reason()`), whichever comes first.
 */
export function timeoutSignal(
  parent: AbortSignal,
  ms: number,
  reason: () => unknown,
): TimeoutSignal {
  const control = new AbortController();
  const onAbort = () => control.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const id = setTimeout(() => {
    timedOut = true;
    control.abort(reason());
  }, ms);
  return {
    signal: control.signal,
    get timedOut() {
      return timedOut;
    },
    clear() {
      clearTimeout(id);
      parent.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * Settles as `promise` does if it does within `ms`, else rejects with
 * `onTimeout()` (by default a `TimeoutError` `DOMException`). `promise` is
 * left to run; its late outcome is ignored. The timer is cleared once
 * `promise` settles.
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => unknown = () => new DOMException(`not settled within ${ms} ms`, "TimeoutError"),
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const id = setTimeout(() => reject(onTimeout()), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(id));
  });
}

/** What {@linkcode settlesWithin} times out with: never seen outside this file. */
const LATE = Symbol("late");

/** Whether `promise` settles within `ms`; its rejection, if any, is rethrown. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await deadline(promise, ms, () => LATE);
    return true;
  } catch (err) {
    if (err === LATE) return false;
    throw err;
  }
}
