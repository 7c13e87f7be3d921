/**
 * Test helpers: every test works in a fresh schema of its own, migrated,
 * and dropped afterwards, so tests never see each other's rows.
 *
 * Behind PgBouncer (`STATEMGMT_TEST_PGBOUNCER=1`, set by `deno task
 * pgbouncer`), which refuses `search_path` as a startup parameter, each test
 * gets a fresh database of its own, named like its schema, holding that
 * schema, with `ALTER DATABASE … SET search_path` so that every server
 * connection starts in it (created and dropped through
 * `STATEMGMT_TEST_DIRECT_URL`, the server itself, since a pooler cannot drop
 * a database it holds connections to), and every pool has `prepare: false`.
 * So `ctx.schema`, channels and `connect({ schema })` mean the same in both.
 */
import postgres from "postgres";
import type { Sql } from "../src/db.ts";
import { migrate } from "../src/migrate.ts";
import { createTask } from "../src/tasks/create.ts";
import type { Task, TaskStatus } from "../src/tasks/types.ts";

/** The server tests use; `deno task test` sets it, else the local default. */
export const DATABASE_URL: string = Deno.env.get("DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

/** Whether the tests run through PgBouncer in transaction mode. */
export const BEHIND_PGBOUNCER: boolean = Deno.env.get("STATEMGMT_TEST_PGBOUNCER") === "1";

/** The server itself, for what a pooler cannot do (LISTEN, DROP DATABASE). */
export const DIRECT_URL: string = Deno.env.get("STATEMGMT_TEST_DIRECT_URL") ?? DATABASE_URL;

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  schema?: string;
  /** Another base URL than {@linkcode DATABASE_URL} (behind PgBouncer: the test's database). */
  url?: string;
  max?: number;
  /** Called for every statement sent (postgres.js `debug`). */
  onStatement?: (query: string, params: unknown[]) => void;
}

/** A postgres.js pool on the test server, optionally confined to `schema`. */
export function connect(opts: ConnectOptions = {}): Sql {
  if (BEHIND_PGBOUNCER && opts.schema && !opts.url && !TEST_DATABASES.has(opts.schema)) {
    // It would land in the shared database's public schema instead.
    throw new Error(
      `behind PgBouncer, connect({ schema: "${opts.schema}" }) needs a schema of withSchema's ` +
        "(a database of its own); PgBouncer refuses search_path as a startup parameter",
    );
  }
  const url = opts.url ??
    (BEHIND_PGBOUNCER && opts.schema ? withDatabase(DATABASE_URL, opts.schema) : DATABASE_URL);
  const pooled = BEHIND_PGBOUNCER && !sameDatabaseDirect(url);
  return postgres(url, {
    max: opts.max ?? 4,
    onnotice: () => {},
    connect_timeout: 10,
    // Transaction pooling hands each statement any server connection: a
    // statement prepared on one is unknown on the next (26000).
    ...(pooled ? { prepare: false } : {}),
    ...(opts.schema && !BEHIND_PGBOUNCER ? { connection: { search_path: opts.schema } } : {}),
    ...(opts.onStatement
      ? {
        debug: (_c: number, query: string, params: unknown[]) => opts.onStatement!(query, params),
      }
      : {}),
  });
}

/** Whether `url` points at the server directly (its host and port are DIRECT_URL's). */
function sameDatabaseDirect(url: string): boolean {
  return new URL(url).host === new URL(DIRECT_URL).host;
}

/** `base` with its database replaced by `database`. */
function withDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * The test server's URL with `search_path` set to `schema`, for child
 * processes; behind PgBouncer, the URL of the test's database instead.
 */
export function urlFor(schema: string): string {
  if (BEHIND_PGBOUNCER) return withDatabase(DATABASE_URL, schema);
  const url = new URL(DATABASE_URL);
  url.searchParams.set("search_path", schema);
  return url.toString();
}

/** What a {@linkcode withSchema} callback gets besides its pool. */
export interface SchemaContext {
  schema: string;
  url: string;
  /** Statements sent on `sql` so far (postgres.js `debug` hook). */
  statements: string[];
  /** The same statements with their parameters, for EXPLAIN. */
  calls: { query: string; params: unknown[] }[];
  /**
   * Another pool on the same schema, ended with the test. `direct`: to the
   * server itself even behind PgBouncer (for LISTEN); the same otherwise.
   */
  connect(opts?: Omit<ConnectOptions, "schema" | "url"> & { direct?: boolean }): Sql;
}

/**
 * Runs `fn` with a pool on a fresh, migrated schema; ends every pool and
 * drops the schema afterwards, whatever happens.
 */
export async function withSchema<T>(
  fn: (sql: Sql, ctx: SchemaContext) => Promise<T>,
  opts: { migrate?: boolean; max?: number } = {},
): Promise<T> {
  const name = `t_${crypto.randomUUID().replaceAll("-", "")}`;
  // Behind PgBouncer the test's database is named like its schema.
  const schema = name;
  const admin = connect({ max: 1, url: DIRECT_URL });
  const pools: Sql[] = [];
  try {
    if (BEHIND_PGBOUNCER) await createDatabase(admin, name);
    else await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const ctx: SchemaContext = {
      schema,
      url: urlFor(name),
      statements: [],
      calls: [],
      connect({ direct, ...o } = {}) {
        const url = BEHIND_PGBOUNCER
          ? withDatabase(direct ? DIRECT_URL : DATABASE_URL, name)
          : undefined;
        const pool = connect({ ...o, schema, url });
        pools.push(pool);
        return pool;
      },
    };
    const sql = ctx.connect({
      max: opts.max,
      onStatement: (query, params) => {
        ctx.statements.push(query);
        ctx.calls.push({ query, params });
      },
    });
    if (opts.migrate !== false) await migrate(sql);
    ctx.statements.length = 0;
    ctx.calls.length = 0;
    return await fn(sql, ctx);
  } finally {
    await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
    try {
      // FORCE: PgBouncer keeps server connections to it open (PostgreSQL 13+).
      if (BEHIND_PGBOUNCER) {
        TEST_DATABASES.delete(name);
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } else await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await admin.end();
    }
  }
}

/** The databases {@linkcode withSchema} made behind PgBouncer, each named like its schema. */
const TEST_DATABASES = new Set<string>();

/** A database `name` holding schema `name`, which its sessions start in. */
async function createDatabase(admin: Sql, name: string): Promise<void> {
  await admin.unsafe(`CREATE DATABASE ${name}`);
  TEST_DATABASES.add(name);
  await admin.unsafe(`ALTER DATABASE ${name} SET search_path = ${name}`);
  const inside = connect({ max: 1, url: withDatabase(DIRECT_URL, name) });
  try {
    await inside.unsafe(`CREATE SCHEMA ${name}`);
  } finally {
    await inside.end();
  }
}

/** `Deno.test` with a fresh, migrated schema. */
export function dbTest(
  name: string,
  fn: (sql: Sql, ctx: SchemaContext) => Promise<void>,
): void {
  Deno.test({ name, ignore: SKIPPED.has(name), fn: () => withSchema(fn) });
}

/**
 * Tests a runner skips by name (`STATEMGMT_TEST_SKIP`, a JSON array): the
 * PgBouncer pass skips those that need a working LISTEN through the pool
 * (scripts/pgbouncer.ts says which and why); they show as ignored.
 */
const SKIPPED = new Set<string>(JSON.parse(Deno.env.get("STATEMGMT_TEST_SKIP") ?? "[]"));

/** Row counts of the given tables, to show that bad input wrote nothing. */
export async function countRows(
  sql: Sql,
  tables: string[],
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${t}`);
    out[t] = row.n;
  }
  return out;
}

/** A subtask of `parentId` with the given action and status: tree set-ups stay one line a task. */
export function createSubtask(
  sql: Sql,
  parentId: string,
  action: string,
  status: TaskStatus = "requested",
): Promise<Task> {
  return createTask(sql, { action, status, parentTaskId: parentId });
}
