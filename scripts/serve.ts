/**
 * `deno task serve [--no-auth] [--migrate]`: serves Drydock's v1.0 API and
 * the status page (`@drydock/statemgmt/http`) with `Deno.serve`.
 *
 * - `PORT`: the port (default 9000); `HOSTNAME`: the address (default 0.0.0.0).
 * - `DATABASE_URL`: the PostgreSQL to serve; without it, the embedded
 *   default (PGlite, in memory unless `STATEMGMT_DATA_DIR` names a
 *   directory), migrated at start. With it, `--migrate` applies pending
 *   migrations first (else `/health` says 503 until someone does).
 * - `STATEMGMT_TOKEN`: the `X-Auth-Token` the API accepts (several,
 *   comma-separated, while rotating). Without one the server refuses to
 *   start, unless `--no-auth` says an open API is meant.
 */
import postgres from "postgres";
import { migrate } from "../src/migrate.ts";
import type { Sql } from "../src/db.ts";
import { createHttpHandler, tokenAuth } from "../src/http/mod.ts";

const noAuth = Deno.args.includes("--no-auth");
const known = ["--no-auth", "--migrate"];
const unknown = Deno.args.filter((a) => !known.includes(a));
if (unknown.length > 0) {
  console.error(`serve: unknown argument ${unknown[0]} (use: --no-auth, --migrate)`);
  Deno.exit(2);
}
const tokens = (Deno.env.get("STATEMGMT_TOKEN") ?? "").split(",").map((t) => t.trim())
  .filter((t) => t !== "");
if (tokens.length === 0 && !noAuth) {
  console.error(
    "serve: refusing to start without a token. Set STATEMGMT_TOKEN to the X-Auth-Token " +
      "clients must send, or pass --no-auth to serve an open API on purpose.",
  );
  Deno.exit(2);
}
const port = Number(Deno.env.get("PORT") ?? 9000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`serve: PORT must be a port number, not ${Deno.env.get("PORT")}`);
  Deno.exit(2);
}

const url = Deno.env.get("DATABASE_URL");
let sql: Sql;
let close: () => Promise<void>;
if (url) {
  sql = postgres(url, { max: 10, onnotice: () => {} });
  close = () => sql.end({ timeout: 5 });
  if (Deno.args.includes("--migrate")) await migrate(sql);
} else {
  const { openEmbedded } = await import("../src/embedded.ts");
  const db = await openEmbedded({ dataDir: Deno.env.get("STATEMGMT_DATA_DIR") });
  sql = db.sql;
  close = db.close;
  await migrate(sql);
}

const handler = createHttpHandler(sql, {
  authorize: tokens.length > 0 ? tokenAuth(tokens) : undefined,
  ui: true,
});
const server = Deno.serve({
  port,
  hostname: Deno.env.get("HOSTNAME") ?? "0.0.0.0",
  onListen: ({ hostname, port }) => {
    const where = url ? "DATABASE_URL" : "the embedded database (PGlite)";
    console.log(`statemgmt: serving http://${hostname}:${port}/ on ${where}`);
    if (noAuth) console.log("statemgmt: --no-auth: the API is open to anyone who can reach it");
  },
}, handler);

const stop = async () => {
  await server.shutdown();
  await close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
await server.finished;
