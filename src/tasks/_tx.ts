/**
 * Several statements in one transaction, whether the caller passed a pool
 * or is already inside `sql.begin`.
 */
import type { Db, PostgresTransactionSql } from "../db.ts";
import { rethrowDbError } from "../_sqlstate.ts";

/**
 * Runs `fn` in a transaction: the caller's when `db` is one (a
 * `TransactionSql` has `savepoint`), else a new one on the pool. Used where
 * a lock taken by one statement must still be held by the next. A failure
 * of the transaction itself (BEGIN, COMMIT, the connection) is mapped like
 * a statement's (`mapDbError`).
 */
export function inTransaction<T>(
  db: Db,
  // deno-lint-ignore no-explicit-any
  fn: (tx: PostgresTransactionSql<any>) => Promise<T>,
): Promise<T> {
  if ("savepoint" in db && typeof db.savepoint === "function") {
    // deno-lint-ignore no-explicit-any
    return fn(db as PostgresTransactionSql<any>);
  }
  // deno-lint-ignore no-explicit-any
  return ((db as any).begin(fn) as Promise<T>).catch(rethrowDbError);
}
