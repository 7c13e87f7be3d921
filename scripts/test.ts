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
// The test files are listed, not the folder: with --doc, deno test would also
// run the examples of the Markdown drafts under tests/ (--ignore does not stop
// it), and a worker loop there (tests/runtime) never ends.
const paths = Deno.args.filter((a) => !a.startsWith("-"));
const args = paths.length
  ? Deno.args
  : [...Deno.args, "--doc", "README.md", ...(await testFiles("tests"))];
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

/** The files deno test would find under `dir` (`*_test.ts`, `*.test.ts`, …), sorted. */
async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await testFiles(path));
    else if (/(^|[_.])test\.(ts|tsx|mts|js|mjs|jsx)$/.test(e.name)) out.push(path);
  }
  return out.sort();
}
