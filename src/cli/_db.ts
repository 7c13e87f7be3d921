/**
 * The CLI's connection: which URL (`--url`, else `DATABASE_URL`), a small
 * pool on it, and errors that say what to do — with any password in the
 * URL replaced by `***`.
 *
 * @module
 */
import postgres from "postgres";
import { ConnectionError, migrationStatus, type Sql, StateError } from "../../mod.ts";
import { Code } from "../_codes.ts";
import { CliError, ExitCode, UsageError } from "./_command.ts";

/**
 * The database URL with its password (and credential-like query values) as `***`.
 *
 * @param url A connection URL.
 * @returns The URL safe to print.
 *
 * @example Usage
 * ```ts
 * import { redactUrl } from "./_db.ts";
 * console.log(redactUrl("postgres://app:secret@db:5432/site")); // postgres://app:***@db:5432/site
 * ```
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "(an unparsable URL)";
  }
  if (u.password) u.password = "***";
  for (const key of [...u.searchParams.keys()]) {
    if (/pass|secret|token|key/i.test(key)) u.searchParams.set(key, "***");
  }
  return u.toString();
}

/**
 * The URL to connect to: `--url`, else `DATABASE_URL`, else a usage error.
 *
 * @param flag The `--url` value, if any.
 * @param env Reads the environment.
 * @returns The URL.
 * @throws {UsageError} Neither is set.
 *
 * @example Usage
 * ```ts
 * import { databaseUrl } from "./_db.ts";
 * console.log(databaseUrl("postgres://127.0.0.1/site", () => undefined));
 * ```
 */
export function databaseUrl(
  flag: string | undefined,
  env: (name: string) => string | undefined,
): string {
  const url = flag ?? env("DATABASE_URL");
  if (!url) {
    throw new UsageError(
      "no database: set DATABASE_URL or pass --url postgres://user@host:5432/db " +
        "(add ?search_path=SCHEMA for a site in its own schema)",
    );
  }
  return url;
}

/**
 * Opens a pool on `url`, checks that the schema is migrated (unless told
 * not to), runs `fn` and ends the pool, whatever happens. Connection
 * failures become a {@linkcode CliError} naming the (redacted) URL.
 *
 * @param url The database URL.
 * @param fn The work.
 * @param opts `migrated: false` skips the check (for `migrate`).
 * @returns What `fn` returns.
 * @throws {CliError} No database, or not migrated.
 *
 * @example Usage
 * ```ts ignore
 * await withDatabase(url, (sql) => listTasks(sql));
 * ```
 */
export async function withDatabase<T>(
  url: string,
  fn: (sql: Sql) => Promise<T>,
  opts: { migrated?: boolean } = {},
): Promise<T> {
  let sql: Sql;
  try {
    sql = postgres(url, { max: 2, connect_timeout: 10, onnotice: () => {} });
  } catch (err) {
    if ((err as Error)?.name === "NotCapable") throw err;
    throw new CliError(
      `cannot use the database URL ${redactUrl(url)}: ${message(err)}`,
      ExitCode.Failure,
    );
  }
  try {
    if (opts.migrated !== false) await assertMigrated(sql, url);
    return await fn(sql);
  } catch (err) {
    throw connectionError(err, url) ?? notMigrated(err, url) ?? err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function assertMigrated(sql: Sql, url: string): Promise<void> {
  const { applied } = await migrationStatus(sql);
  if (applied.length > 0) return;
  const [{ schema }] = await sql`SELECT current_schema() AS schema`;
  throw new CliError(
    `the database at ${redactUrl(url)} is not migrated (no statemgmt tables in ` +
      `${schema ? `schema "${schema}"` : "its search_path, whose schema does not exist"}): ` +
      "run `statemgmt migrate` first",
    ExitCode.Failure,
  );
}

// Error codes of a server that cannot be reached or will not let us in.
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "3D000", // the database does not exist
  "28000", // no pg_hba.conf entry / role refused
  "28P01", // wrong password
]);

function connectionError(err: unknown, url: string): CliError | null {
  // A ConnectionError (code unavailable) carries the driver's error as its cause.
  const raw = err instanceof ConnectionError ? err.cause : err;
  const code = (raw as { code?: string })?.code;
  if (!code || !UNREACHABLE.has(code)) return null;
  return new CliError(
    `no database at ${redactUrl(url)}: ${message(raw)} ` +
      "(check DATABASE_URL or --url, and that PostgreSQL is running)",
    ExitCode.Failure,
    { cause: err },
  );
}

function notMigrated(err: unknown, url: string): CliError | null {
  const code = (err as { code?: string })?.code;
  // 3F000: no schema to create in — the search_path names none that exists.
  if (code === "3F000") {
    return new CliError(
      `the database at ${redactUrl(url)} has no schema named in its search_path: ` +
        "run `statemgmt migrate`, which creates it",
      ExitCode.Failure,
      { cause: err },
    );
  }
  // 42P01: undefined table — a table this version needs is missing.
  if (code !== "42P01" && code !== Code.NotMigrated) return null;
  return new CliError(
    `the database at ${redactUrl(url)} lacks a statemgmt table ` +
      `(${message(err instanceof StateError && err.cause ? err.cause : err)}): ` +
      "run `statemgmt migrate` first",
    ExitCode.Failure,
    { cause: err },
  );
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
