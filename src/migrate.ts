/**
 * The migration runner: plain SQL files, applied in order, each in its own
 * transaction, recorded with a checksum in `schema_migrations`.
 *
 * @module
 */
import { assertSql, type PostgresTransactionSql, query, type Sql } from "./db.ts";
import { ConnectionError, MigrationError, StateError } from "./errors.ts";
import { Code } from "./_codes.ts";
import { mapDbError } from "./_sqlstate.ts";
import { type Migration, migrations as bundled } from "./_migrations.ts";

export type { Migration } from "./_migrations.ts";

// deno-lint-ignore no-explicit-any
type TransactionSql = PostgresTransactionSql<any>;

/** Options of {@linkcode migrate}. */
export interface MigrateOptions {
  /**
   * The migrations to apply, in order.
   * @default the migrations shipped with this module
   */
  migrations?: readonly Migration[];
}

/** What {@linkcode migrate} did. */
export interface MigrateResult {
  /** Versions this call applied, in order; empty when already current. */
  applied: string[];
  /** The newest applied version, or `null` on an empty database. */
  current: string | null;
}

/** One applied migration, as `schema_migrations` records it. */
export interface AppliedMigration {
  /** The version. */
  version: string;
  /** The sha256 of its SQL, hex. */
  checksum: string;
  /** When it was applied (database clock). */
  appliedAt: Date;
}

/** What {@linkcode migrationStatus} reports. */
export interface MigrationStatus {
  /** Applied migrations, oldest first. */
  applied: AppliedMigration[];
  /** Versions not yet applied, in order. */
  pending: string[];
}

/**
 * Applies every pending migration to the connection's `search_path`
 * schema. Each runs in its own transaction under a transaction-scoped
 * advisory lock, so several instances starting at once apply each file
 * exactly once; a migration whose checksum differs from the applied one
 * is refused. The server's NOTICEs ("relation … already exists, skipping")
 * are silenced inside those transactions.
 *
 * When the first schema the `search_path` names (other than `"$user"`)
 * does not exist, it is created first (`CREATE SCHEMA IF NOT EXISTS`), so
 * `?search_path=site_a` on a fresh database gives site `site_a` its tables
 * instead of failing with "no schema has been selected to create in".
 *
 * @param sql A postgres.js pool.
 * @param opts Which migrations to apply.
 * @returns The versions applied by this call and the current version.
 * @throws {TypeError} `sql` is not a postgres.js pool (e.g. a URL string).
 * @throws {MigrationError} A migration failed, or an applied one changed.
 * @throws {ConnectionError} The database cannot be reached (code `unavailable`).
 *
 * @example Usage
 * ```ts ignore
 * import postgres from "postgres";
 * import { migrate } from "@drydock/statemgmt";
 * const sql = postgres(Deno.env.get("DATABASE_URL")!);
 * const { applied, current } = await migrate(sql);
 * console.log(applied, current);
 * await sql.end();
 * ```
 */
export async function migrate(
  sql: Sql,
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  assertSql(sql, "migrate");
  const all = opts.migrations ?? bundled;
  const checksums = await Promise.all(all.map((m) => sha256(m.sql)));
  const appliedNow: string[] = [];
  try {
    await ensureSchema(sql);
    for (;;) {
      const step = await sql.begin((tx) => applyNext(tx, all, checksums));
      if (step.applied === null) return { applied: appliedNow, current: step.current };
      appliedNow.push(step.applied);
    }
  } catch (err) {
    throw mapDbError(err);
  }
}

/** One transaction of {@linkcode migrate}: the next pending migration, if any. */
async function applyNext(
  tx: TransactionSql,
  all: readonly Migration[],
  checksums: string[],
): Promise<{ applied: string | null; current: string | null }> {
  await lockMigrations(tx);
  // "relation already exists, skipping" and the like are not news: a
  // plain postgres(url) would print each one on every start.
  await tx`SET LOCAL client_min_messages = warning`;
  await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
  )`;
  const rows = await tx<{ version: string; checksum: string }[]>`
    SELECT version, checksum FROM schema_migrations ORDER BY version`;
  const done = new Map(rows.map((r) => [r.version, r.checksum]));
  verifyChecksums(all, checksums, done);
  const current = rows.at(-1)?.version ?? null;
  const next = all.findIndex((m) => !done.has(m.version));
  if (next < 0) return { applied: null, current };
  const m = all[next];
  try {
    await tx.unsafe(m.sql);
  } catch (err) {
    const mapped = mapDbError(err);
    if (mapped instanceof ConnectionError) throw mapped; // an outage, not a bad migration
    throw new MigrationError(
      `migration ${m.version} failed: ${(err as Error).message}`,
      { version: m.version, cause: err },
    );
  }
  await tx`INSERT INTO schema_migrations (version, checksum)
           VALUES (${m.version}, ${checksums[next]})`;
  return { applied: m.version, current: m.version };
}

/**
 * Creates the first schema the `search_path` names (other than `"$user"`)
 * when it does not exist, unless the session user's own schema comes first
 * and exists (then tables go there, as PostgreSQL would put them). Under an
 * advisory lock on the name, so instances starting at once do not race.
 */
async function ensureSchema(sql: Sql): Promise<void> {
  const [row] = await sql<{ search_path: string; current: string | null; user: string }[]>`
    SELECT current_setting('search_path') AS search_path, current_schema() AS current,
           session_user AS user`;
  const target = searchPathSchemas(row.search_path).find((s) => s !== "$user");
  if (target === undefined || (row.current !== null && row.current === row.user)) return;
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(
      hashtextextended('@drydock/statemgmt:schema:' || ${target}::text, 0))`;
    await tx`SET LOCAL client_min_messages = warning`;
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(target)}`);
  });
}

/** The schema names of a `search_path` setting, as PostgreSQL reads them (unquoted: lower case). */
function searchPathSchemas(setting: string): string[] {
  const names: string[] = [];
  for (const m of setting.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/g)) {
    if (m[1] !== undefined) names.push(m[1].replaceAll('""', '"'));
    else if (m[2] !== undefined) names.push(m[2].toLowerCase());
  }
  return names;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Lists applied and pending migrations without changing anything. A
 * schema that does not exist yet, or has no `schema_migrations`, has every
 * migration pending.
 *
 * @param sql A postgres.js pool.
 * @param opts Which migrations are known.
 * @returns Applied migrations with their checksums, and pending versions.
 * @throws {TypeError} `sql` is not a postgres.js pool (e.g. a URL string).
 * @throws {ConnectionError} The database cannot be reached (code `unavailable`).
 *
 * @example Usage
 * ```ts ignore
 * import postgres from "postgres";
 * import { migrationStatus } from "@drydock/statemgmt";
 * const sql = postgres(Deno.env.get("DATABASE_URL")!);
 * console.log((await migrationStatus(sql)).pending);
 * await sql.end();
 * ```
 */
export async function migrationStatus(
  sql: Sql,
  opts: MigrateOptions = {},
): Promise<MigrationStatus> {
  assertSql(sql, "migrationStatus");
  const all = opts.migrations ?? bundled;
  const rows = await query(
    sql,
    "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version",
    [],
  ).catch((err) => {
    // The table does not exist yet, so nothing is applied.
    if (err instanceof StateError && err.code === Code.NotMigrated) return [];
    throw err;
  });
  const done = new Set(rows.map((r) => r.version));
  return {
    applied: rows.map((r) => ({
      version: r.version,
      checksum: r.checksum,
      appliedAt: r.applied_at,
    })),
    pending: all.map((m) => m.version).filter((v) => !done.has(v)),
  };
}

async function lockMigrations(tx: TransactionSql): Promise<void> {
  // One lock per schema, so sites in other schemas migrate independently.
  await tx`SELECT pg_advisory_xact_lock(
    hashtextextended('@drydock/statemgmt:migrate:' || current_schema(), 0))`;
}

function verifyChecksums(
  all: readonly Migration[],
  checksums: string[],
  done: Map<string, string>,
): void {
  all.forEach((m, i) => {
    const applied = done.get(m.version);
    if (applied !== undefined && applied !== checksums[i]) {
      throw new MigrationError(
        `migration ${m.version} was changed after it was applied ` +
          `(checksum ${applied.slice(0, 12)}… now ${checksums[i].slice(0, 12)}…)`,
        { version: m.version },
      );
    }
  });
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
