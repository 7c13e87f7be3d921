/**
 * The embedded default: PGlite (PostgreSQL compiled to WebAssembly) served
 * on a loopback port, so the same postgres.js code runs on it. For the
 * quick start, demos and tests of code that embeds this module — not for
 * production: PGlite is one PostgreSQL session shared by every connection.
 *
 * @example Usage
 * ```ts ignore
 * import { openEmbedded } from "@drydock/statemgmt/embedded";
 * import { createTask, migrate } from "@drydock/statemgmt";
 *
 * const db = await openEmbedded();
 * try {
 *   await migrate(db.sql);
 *   console.log(await createTask(db.sql, { action: "deploy_nodes" }));
 * } finally {
 *   await db.close();
 * }
 * ```
 *
 * @module
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import postgres from "postgres";
import type { Sql } from "./db.ts";

export type { Sql };

/** Options of {@linkcode openEmbedded}. */
export interface EmbeddedOptions {
  /**
   * A directory to keep the database in; it survives `close()`.
   * @default in memory, gone on `close()`
   */
  dataDir?: string;
  /**
   * Connections the loopback server accepts at once (the pool, LISTEN and
   * an elector's heartbeat each take one).
   * @default 16
   */
  maxConnections?: number;
}

/** A running embedded database. */
export interface Embedded {
  /** A postgres.js pool of one connection on it (PGlite is a single session). */
  sql: Sql;
  /** Its `postgres://` URL on 127.0.0.1, for other clients in this process. */
  url: string;
  /** Ends the pool, the server and the database. */
  close(): Promise<void>;
}

type Listener = (payload: string) => void;

/**
 * Starts PGlite, serves it on a free loopback port and connects a pool.
 *
 * PGlite runs every connection in one session, so a notification reaches
 * the connection whose statement raised it rather than a LISTENing one. The
 * pool's `listen()` is therefore replaced by one that takes notifications
 * from every connection made with `sql.options` — so `watchTasks` and the
 * leader elector work here as on a server.
 *
 * @param opts Where to keep the data, and the connection limit.
 * @returns The pool, its URL, and `close()`.
 *
 * @example Usage
 * ```ts ignore
 * const db = await openEmbedded({ dataDir: "./.statemgmt" });
 * await db.close();
 * ```
 */
export async function openEmbedded(opts: EmbeddedOptions = {}): Promise<Embedded> {
  const pglite = await PGlite.create(opts.dataDir);
  const server = new PGLiteSocketServer({
    db: pglite,
    host: "127.0.0.1",
    port: 0,
    maxConnections: opts.maxConnections ?? 16,
  });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;

  const channels = new Map<string, Set<Listener>>();
  // `onnotify` is a postgres.js option its types do not declare.
  const options = {
    max: 1,
    onnotice: () => {},
    onnotify: (channel: string, payload: string) => {
      for (const fn of channels.get(channel) ?? []) fn(payload);
    },
  } as postgres.Options<Record<string, never>>;
  const sql = postgres(url, options);
  const quote = (name: string) => sql.unsafe(`"${name.replaceAll('"', '""')}"`);

  async function listen(channel: string, fn: Listener, onlisten?: () => void) {
    let set = channels.get(channel);
    if (!set) {
      channels.set(channel, set = new Set());
      await sql`LISTEN ${quote(channel)}`;
    }
    set.add(fn);
    onlisten?.();
    return {
      state: { state: "I" },
      async unlisten() {
        const current = channels.get(channel);
        if (!current?.delete(fn) || current.size > 0) return;
        channels.delete(channel);
        await sql`UNLISTEN ${quote(channel)}`;
      },
    };
  }
  Object.assign(sql, { listen });

  return {
    sql,
    url,
    async close() {
      await sql.end({ timeout: 5 });
      await server.stop();
      await pglite.close();
    },
  };
}
