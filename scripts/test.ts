/**
 * `deno task test [deno test args…]`: runs the suite against a real
 * PostgreSQL. It takes `DATABASE_URL`; without it, the local server on
 * 127.0.0.1:5432 if one answers; else a throwaway cluster started with
 * `initdb`/`pg_ctl` (from PATH or /usr/lib/postgresql/<v>/bin) and stopped
 * afterwards.
 */
import postgres from "postgres";
import { findPgBin, throwawayCluster } from "./_cluster.ts";

const LOCAL = "postgres://postgres@127.0.0.1:5432/postgres";

async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return true;
  } catch (err) {
    console.error(`test: no server at ${new URL(url).host}: ${(err as Error).message}`);
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

let url = Deno.env.get("DATABASE_URL");
let stop: (() => Promise<void>) | undefined;
if (!url) {
  if (await answers(LOCAL)) {
    url = LOCAL;
  } else {
    const bin = await findPgBin();
    if (!bin) {
      console.error(
        "test: no PostgreSQL to test against. Set DATABASE_URL to a server " +
          "(e.g. postgres://user@127.0.0.1:5432/db), start one on 127.0.0.1:5432, " +
          "or install the PostgreSQL server binaries (initdb, pg_ctl).",
      );
      Deno.exit(1);
    }
    console.error(`test: starting a throwaway cluster with ${bin}`);
    const cluster = await throwawayCluster(bin);
    url = cluster.url;
    stop = cluster.remove;
  }
}

console.error(`test: using ${new URL(url).host}${new URL(url).pathname}`);
// With no paths given, run the suite and the README's examples (so they stay true).
// Not the Markdown drafts under tests/: with --doc, deno test would run their
// examples too, and a worker loop there (tests/runtime) never ends.
const paths = Deno.args.filter((a) => !a.startsWith("-"));
const args = paths.length
  ? Deno.args
  : [...Deno.args, "--doc", "--ignore=tests/**/*.md", "README.md", "tests/"];
let code = 1;
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...args],
    env: { DATABASE_URL: url },
    stdin: "null",
  }).spawn();
  code = (await child.status).code;
} finally {
  await stop?.();
}
Deno.exit(code);
