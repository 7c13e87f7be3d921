/**
 * The migration runner: plain SQL files, applied in order, each in its own
 * transaction, recorded with a checksum in `schema_migrations`.
 *
 * @module
 */
import type { Sql } from "./db.ts";
import { MigrationError } from "./errors.ts";
import { SqlState, sqlState } from "./_sqlstate.ts";
import { type Migration, migrations as bundled } from "./_migrations.ts";

export type { Migration } from "./_migrations.ts";

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
 * is refused.
 *
 * @param sql A postgres.js pool.
 * @param opts Which migrations to apply.
 * @returns The versions applied by this call and the current version.
 * @throws {MigrationError} A migration failed, or an applied one changed.
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
  const all = opts.migrations ?? bundled;
  const checksums = await Promise.all(all.map((m) => sha256(m.sql)));
  const appliedNow: string[] = [];
  let current: string | null = null;
  for (;;) {
    const step = await sql.begin(async (tx) => {
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
      current = rows.at(-1)?.version ?? null;
      const next = all.findIndex((m) => !done.has(m.version));
      if (next < 0) return null;
      const m = all[next];
      try {
        await tx.unsafe(m.sql);
      } catch (err) {
        throw new MigrationError(
          `migration ${m.version} failed: ${(err as Error).message}`,
          { version: m.version, cause: err },
        );
      }
      await tx`INSERT INTO schema_migrations (version, checksum)
               VALUES (${m.version}, ${checksums[next]})`;
      return m.version;
    });
    if (step === null) return { applied: appliedNow, current };
    appliedNow.push(step);
  }
}

/**
 * Lists applied and pending migrations without changing anything.
 *
 * @param sql A postgres.js pool.
 * @param opts Which migrations are known.
 * @returns Applied migrations with their checksums, and pending versions.
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
  const all = opts.migrations ?? bundled;
  const rows = await sql<{ version: string; checksum: string; applied_at: Date }[]>`
    SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version`
    .catch((err) => {
      // 42P01: the table does not exist yet, so nothing is applied.
      if (sqlState(err) === SqlState.UndefinedTable) return [];
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

// deno-lint-ignore no-explicit-any
async function lockMigrations(tx: any): Promise<void> {
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
