/**
 * `deno task migrate [status]`: applies pending migrations to
 * `DATABASE_URL` (the schema of its `search_path`), or lists applied and
 * pending ones with `status`.
 */
import postgres from "postgres";
import { migrate, migrationStatus } from "../src/migrate.ts";

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
} finally {
  await sql.end();
}
