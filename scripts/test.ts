/**
 * `deno task test [deno test args…]`: runs the suite against a real
 * PostgreSQL. It takes `DATABASE_URL`; without it, the local server on
 * 127.0.0.1:5432 if one answers; else a throwaway cluster started with
 * `initdb`/`pg_ctl` (from PATH or /usr/lib/postgresql/<v>/bin) and stopped
 * afterwards.
 */
import postgres from "postgres";

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

async function findPgBin(): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (await exists(`${dir}/initdb`)) return dir;
  }
  const versions: string[] = [];
  try {
    for await (const e of Deno.readDir("/usr/lib/postgresql")) versions.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (await exists(`${dir}/initdb`)) return dir;
  }
  return null;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function run(cmd: string[], asUser?: string): Promise<void> {
  const argv = asUser ? ["runuser", "-u", asUser, "--", ...cmd] : cmd;
  const { code, stderr } = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`${cmd[0]} exited ${code}: ${new TextDecoder().decode(stderr)}`);
  }
}

/** Starts a throwaway cluster; returns its URL and a function that removes it. */
async function throwawayCluster(bin: string): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "statemgmt-pg-" });
  // initdb refuses to run as root: run the cluster as the postgres user.
  const asUser = Deno.uid() === 0 ? "postgres" : undefined;
  if (asUser) await run(["chown", asUser, dir]);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await run([`${bin}/initdb`, "-D", `${dir}/data`, "-U", "postgres", "-A", "trust"], asUser);
  await run([
    `${bin}/pg_ctl`,
    "-D",
    `${dir}/data`,
    "-w",
    "-l",
    `${dir}/log`,
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    "start",
  ], asUser);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await run([`${bin}/pg_ctl`, "-D", `${dir}/data`, "-m", "fast", "-w", "stop"], asUser);
      await Deno.remove(dir, { recursive: true });
    },
  };
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
    stop = cluster.stop;
  }
}

console.error(`test: using ${new URL(url).host}${new URL(url).pathname}`);
// With no paths given, run the suite and the README's examples (so they stay true).
const paths = Deno.args.filter((a) => !a.startsWith("-"));
const args = paths.length ? Deno.args : [...Deno.args, "--doc", "README.md", "tests/"];
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
