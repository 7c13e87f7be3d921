/**
 * Test helpers: every test works in a fresh schema of its own, migrated,
 * and dropped afterwards, so tests never see each other's rows.
 */
import postgres from "postgres";
import type { Sql } from "../src/db.ts";
import { migrate } from "../src/migrate.ts";

/** The server tests use; `deno task test` sets it, else the local default. */
export const DATABASE_URL: string = Deno.env.get("DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  schema?: string;
  max?: number;
  /** Called for every statement sent (postgres.js `debug`). */
  onStatement?: (query: string, params: unknown[]) => void;
}

/** A postgres.js pool on the test server, optionally confined to `schema`. */
export function connect(opts: ConnectOptions = {}): Sql {
  return postgres(DATABASE_URL, {
    max: opts.max ?? 4,
    onnotice: () => {},
    connect_timeout: 10,
    ...(opts.schema ? { connection: { search_path: opts.schema } } : {}),
    ...(opts.onStatement
      ? {
        debug: (_c: number, query: string, params: unknown[]) => opts.onStatement!(query, params),
      }
      : {}),
  });
}

/** The test server's URL with `search_path` set to `schema`, for child processes. */
export function urlFor(schema: string): string {
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
  /** Another pool on the same schema, ended with the test. */
  connect(opts?: Omit<ConnectOptions, "schema">): Sql;
}

/**
 * Runs `fn` with a pool on a fresh, migrated schema; ends every pool and
 * drops the schema afterwards, whatever happens.
 */
export async function withSchema<T>(
  fn: (sql: Sql, ctx: SchemaContext) => Promise<T>,
  opts: { migrate?: boolean; max?: number } = {},
): Promise<T> {
  const schema = `t_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = connect({ max: 1 });
  const pools: Sql[] = [];
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const ctx: SchemaContext = {
      schema,
      url: urlFor(schema),
      statements: [],
      calls: [],
      connect(o = {}) {
        const pool = connect({ ...o, schema });
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
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

/** `Deno.test` with a fresh, migrated schema. */
export function dbTest(
  name: string,
  fn: (sql: Sql, ctx: SchemaContext) => Promise<void>,
): void {
  Deno.test(name, () => withSchema(fn));
}

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
