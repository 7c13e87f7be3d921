/**
 * The SQLSTATEs this module reacts to, by name, and the one place that
 * turns a database error into one of our errors: connection failures
 * ({@linkcode mapDbError}, applied by `query()` to every statement) and
 * constraint violations ({@linkcode mapConstraintError}, applied by the
 * statements that can raise them). Everything else a database error can be
 * is passed on unchanged, never swallowed.
 */
import { ConnectionError, StateError } from "./errors.ts";
import { Code } from "./_codes.ts";

/** PostgreSQL error codes, as named in its documentation (Appendix A). */
export const SqlState = {
  UniqueViolation: "23505",
  ForeignKeyViolation: "23503",
  UndefinedTable: "42P01",
  QueryCanceled: "57014",
  InvalidSchemaName: "3F000",
  AdminShutdown: "57P01",
  CrashShutdown: "57P02",
  CannotConnectNow: "57P03",
  InvalidCatalogName: "3D000",
  InvalidPassword: "28P01",
  InvalidAuthorization: "28000",
} as const;

/** postgres.js and Deno network error codes meaning no usable connection. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  SqlState.AdminShutdown,
  SqlState.CrashShutdown,
  SqlState.CannotConnectNow,
  SqlState.InvalidCatalogName,
  SqlState.InvalidPassword,
  SqlState.InvalidAuthorization,
]);

/** Every table of this module: a 42P01 naming one of them means "not migrated". */
const OUR_TABLES = new Set([
  "tasks",
  "result_messages",
  "build_data",
  "boot_actions",
  "boot_action_statuses",
  "leader_leases",
  "task_events",
  "task_events_pruned",
  "schema_migrations",
]);

/** Whether `err` (a driver error) means the database cannot be used at all right now. */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

/**
 * The one mapping of a database error to ours, for every statement
 * (`query()`) and at the boundary of every transaction this module opens:
 * a connection failure (see {@linkcode isConnectionFailure}: network codes,
 * SQLSTATE class 08, 57P01–57P03, 3D000, 28000, 28P01) becomes a
 * {@linkcode ConnectionError}; an undefined table (42P01) that is one of
 * ours becomes a `StateError` of code `not_migrated`. Our own errors and
 * anything else are returned unchanged, for the caller to throw.
 */
export function mapDbError(err: unknown): unknown {
  if (err instanceof StateError || !(err instanceof Error)) return err;
  if (isConnectionFailure(err)) {
    const code = String((err as { code?: unknown }).code);
    return new ConnectionError(`database unavailable (${code}): ${err.message}; ${hint(code)}`, {
      cause: err,
    });
  }
  if (sqlState(err) === SqlState.UndefinedTable) {
    const table = /relation "(?:[^"]*\.)?([^".]+)" does not exist/.exec(err.message)?.[1];
    if (table && OUR_TABLES.has(table)) {
      return new StateError(
        Code.NotMigrated,
        `the database is not migrated: table "${table}" does not exist in the search_path ` +
          "(42P01); run migrate(sql) (or `deno task migrate`) on this database and schema first",
        { cause: err },
      );
    }
  }
  return err;
}

/** What an operator can do about a connection failure of `code`. */
function hint(code: string): string {
  if (code === SqlState.InvalidCatalogName) return "create it, or fix the database in the URL";
  if (code.startsWith("28")) return "check the user, the password and pg_hba.conf";
  if (code.startsWith("57P")) return "the server is shutting down or starting up: retry";
  return "is PostgreSQL running and reachable at that address? Retry once it is";
}

/** {@linkcode mapDbError}, thrown: for `.catch(rethrowDbError)`. */
export function rethrowDbError(err: unknown): never {
  throw mapDbError(err);
}

/** The SQLSTATE of a postgres.js error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** What a caller makes of the constraint violations its statement can raise. */
export interface ConstraintErrors {
  /** A unique key was taken; `key` is the value the detail names, if any. */
  unique?: (key: string | undefined, cause: unknown) => Error;
  /** A foreign key names no row; `key` is the value the detail names, if any. */
  foreignKey?: (key: string | undefined, cause: unknown) => Error;
}

/**
 * Maps a constraint violation to the caller's error; any other error is
 * returned as it is, for the caller to throw. The key comes from the
 * error's detail (`Key (id)=(…) already exists`): inside a transaction the
 * failed statement has aborted it, so a follow-up query could not ask.
 */
export function mapConstraintError(err: unknown, map: ConstraintErrors): unknown {
  const state = sqlState(err);
  if (state === SqlState.UniqueViolation && map.unique) return map.unique(keyInDetail(err), err);
  if (state === SqlState.ForeignKeyViolation && map.foreignKey) {
    return map.foreignKey(keyInDetail(err), err);
  }
  return err;
}

/** The key value a constraint error's detail names, e.g. `Key (id)=(…) already exists`. */
function keyInDetail(err: unknown): string | undefined {
  const detail = (err as { detail?: string }).detail ?? "";
  return /Key \([^)]*\)=\(([^)]*)\)/.exec(detail)?.[1];
}
