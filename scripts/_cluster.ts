/**
 * Throwaway PostgreSQL clusters for the test runner, `deno task compat` and
 * the outage test: `initdb` into a temporary directory (as the `postgres`
 * user when running as root, since initdb refuses root), `pg_ctl start` on
 * a random loopback port, and a `remove()` that stops and deletes it.
 */

/** A running throwaway cluster. */
export interface Cluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  port: number;
  /** The binaries' directory (initdb, pg_ctl, postgres). */
  bin: string;
  /** Stops the server (fast shutdown: sessions are terminated); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops it if running and removes its directory. */
  remove(): Promise<void>;
}

/** The user that runs the cluster: `postgres` when we are root, else ourselves. */
const AS_USER = Deno.uid() === 0 ? "postgres" : undefined;

/** Runs `cmd` (as `asUser` if given); throws with its stderr when it fails. */
export async function run(cmd: string[], asUser?: string, env?: Record<string, string>) {
  const argv = asUser ? ["runuser", "-u", asUser, "--", ...cmd] : cmd;
  const { code, stderr, stdout } = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  if (code !== 0) {
    const out = new TextDecoder().decode(stderr) || new TextDecoder().decode(stdout);
    throw new Error(`${cmd[0]} exited ${code}: ${out.trim()}`);
  }
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The directory of `initdb`: PATH first, then the newest /usr/lib/postgresql/<v>/bin. */
export async function findPgBin(): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await exists(`${dir}/initdb`)) return dir;
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

/** A free loopback TCP port (bound and released at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Creates and starts a cluster with the binaries in `bin`.
 *
 * @param bin The directory holding initdb and pg_ctl.
 * @param opts `settings`: extra `-c name=value` server settings.
 */
export async function throwawayCluster(
  bin: string,
  opts: { settings?: Record<string, string> } = {},
): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "statemgmt-pg-" });
  if (AS_USER) await run(["chown", AS_USER, dir]);
  const port = freePort();
  const data = `${dir}/data`;
  const settings = { listen_addresses: "127.0.0.1", fsync: "off", ...opts.settings };
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(" ");
  let running = false;
  const cluster: Cluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    bin,
    async start() {
      await run([
        `${bin}/pg_ctl`,
        "-D",
        data,
        "-w",
        "-t",
        "60",
        "-l",
        `${dir}/log`,
        "-o",
        serverOptions,
        "start",
      ], AS_USER);
      running = true;
    },
    async stop() {
      await run([`${bin}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"], AS_USER);
      running = false;
    },
    async remove() {
      try {
        if (running) await cluster.stop();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
  try {
    await run([`${bin}/initdb`, "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"], AS_USER);
    await cluster.start();
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  return cluster;
}
