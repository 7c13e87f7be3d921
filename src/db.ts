/**
 * The connection type every repository function takes first, the one way
 * statements with parameters are sent ({@linkcode query}), and the small
 * helpers that map values. It knows no table and no domain.
 *
 * @module
 */
import type { Sql as PostgresSql, TransactionSql as PostgresTransactionSql } from "postgres";
import { mapDbError } from "./_sqlstate.ts";

/**
 * A connection: a postgres.js `Sql` (the pool) or the `tx` inside
 * `sql.begin(tx => …)`, so several calls compose in one transaction.
 */
// deno-lint-ignore no-explicit-any
export type Db = PostgresSql<any> | PostgresTransactionSql<any>;

/** A postgres.js pool, as the functions that need their own connection take. */
// deno-lint-ignore no-explicit-any
export type Sql = PostgresSql<any>;

export type { PostgresSql, PostgresTransactionSql };

/** Postgres `timestamptz` from a row (a `Date`, or ISO text from JSON) to `Date`. */
export function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

/** Like {@linkcode toDate}, keeping `null`. */
export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** A JSON value for a parameter, or `null`, typed as postgres.js wants. */
export function jsonParam(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/**
 * Runs a statement given as text with `$n` parameters, prepared once per
 * connection (unless the pool says `prepare: false`). The hot paths build
 * their text from constant pieces and come here, so no postgres.js fragment
 * is assembled per call. Without parameters postgres.js uses the simple
 * protocol, planned on every call; the hot paths all pass at least one.
 */
export function query(db: Db, text: string, params: unknown[]): PendingRows {
  // deno-lint-ignore no-explicit-any
  const pending = db.unsafe(text, params as any[], { prepare: true }) as unknown as PendingRows;
  // Errors are mapped inside `then` (which `await`, `catch` and `finally`
  // all call): no promise more on success, and the statement stays lazy
  // (sent once awaited) and cancellable, as postgres.js made it.
  const then = pending.then;
  pending.then = function (
    this: PendingRows,
    onFulfilled?: ((rows: Rows) => unknown) | null,
    onRejected?: ((reason: unknown) => unknown) | null,
  ) {
    return Reflect.apply(then, this, [onFulfilled, (err: unknown) => {
      if (onRejected) return onRejected(mapDbError(err));
      throw mapDbError(err);
    }]);
  } as typeof then;
  return pending;
}

/**
 * Throws a `TypeError` unless `value` is a postgres.js pool: the functions
 * that open their own connections (`migrate`, `watchTasks`, the elector…)
 * call it first, so a URL string, a missing pool or a node-postgres
 * `pg.Pool` fails at the call that passed it, saying what was expected.
 *
 * @param value What the caller passed as `sql`.
 * @param fn The function's name, for the message.
 */
export function assertSql(value: unknown, fn: string): asserts value is Sql {
  if (typeof value === "function" && "begin" in value && "unsafe" in value) return;
  const got = value === null || value === undefined
    ? String(value)
    : typeof value === "string"
    ? "a string (a connection URL?)"
    : typeof value === "object" && "connect" in value && "query" in value
    ? "a node-postgres client or pool"
    : `a ${typeof value}`;
  throw new TypeError(
    `${fn}: expected a postgres.js pool, e.g. postgres(DATABASE_URL) from npm:postgres; got ${got}`,
  );
}

/** The rows of {@linkcode query}, and how many the statement affected. */
// deno-lint-ignore no-explicit-any
export type Rows = any[] & { count: number };

/** A statement on its way: its rows once awaited, and `cancel()` to stop it on the server. */
export type PendingRows = Promise<Rows> & { cancel(): void };

/** Numbers parameters as they are added: `p.add(v)` returns `$n`. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * A `text[]` sent as one JSON parameter, added to `p`: postgres.js 3.4.9
 * may send a `text[]` parameter before it has loaded the array types on a
 * fresh connection (DESIGN.md, pitfalls).
 */
export function textArraySql(p: Params, values: string[]): string {
  return `ARRAY(SELECT jsonb_array_elements_text(${p.add(JSON.stringify(values))}::text::jsonb))`;
}
