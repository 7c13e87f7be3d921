/**
 * `deno task migrate [status]`: applies pending migrations to
 * `DATABASE_URL` (the schema of its `search_path`, created when missing),
 * or lists applied and pending ones with `status`. Both first say which
 * database, schema and server they used.
 */
import postgres from "postgres";
import { migrate, migrationStatus } from "../src/migrate.ts";
import { StateError } from "../src/errors.ts";
import { mapDbError } from "../src/_sqlstate.ts";

const url = Deno.env.get("DATABASE_URL");
if (!url) {
  console.error("migrate: set DATABASE_URL, e.g. postgres://user@127.0.0.1:5432/drydock");
  Deno.exit(2);
}
const command = Deno.args[0] ?? "up";
if (command !== "up" && command !== "status") {
  console.error(`migrate: unknown command ${JSON.stringify(command)} (use: up | status)`);
  Deno.exit(2);
}

const sql = postgres(url, { max: 1, onnotice: () => {} });
try {
  await printTarget(command);
  if (command === "status") {
    const { applied, pending } = await migrationStatus(sql);
    for (const a of applied) {
      console.log(
        `applied  ${a.version}  ${a.appliedAt.toISOString()}  ${a.checksum.slice(0, 12)}`,
      );
    }
    for (const p of pending) console.log(`pending  ${p}`);
    if (applied.length + pending.length === 0) console.log("no migrations");
  } else {
    const { applied, current } = await migrate(sql);
    for (const v of applied) console.log(`applied  ${v}`);
    console.log(`current  ${current ?? "(none)"}${applied.length ? "" : " — nothing to apply"}`);
  }
} catch (caught) {
  // Our errors say what to do (and redact passwords); anything else is a bug: show it whole.
  const err = mapDbError(caught);
  console.error(`migrate: ${err instanceof StateError ? err.message : err}`);
  Deno.exitCode = 1;
} finally {
  await sql.end();
}

/** `database drydock, schema site_a, PostgreSQL 15.8`, before anything else. */
async function printTarget(command: string): Promise<void> {
  const [t] = await sql`
    SELECT current_database() AS database, current_schema() AS schema,
           current_setting('search_path') AS search_path,
           current_setting('server_version') AS version`;
  const schema = t.schema === null
    ? `none of search_path ${t.search_path} exists${command === "up" ? " (creating it)" : ""}`
    : `schema ${t.schema}`;
  console.log(`database ${t.database}, ${schema}, PostgreSQL ${t.version}`);
}
