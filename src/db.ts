/**
 * The connection type every repository function takes first, the one way
 * statements with parameters are sent ({@linkcode query}), and the small
 * helpers that map values. It knows no table and no domain.
 *
 * @module
 */
import type { Sql as PostgresSql, TransactionSql as PostgresTransactionSql } from "postgres";

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
  return db.unsafe(text, params as any[], { prepare: true }) as unknown as PendingRows;
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
