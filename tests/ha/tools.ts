/**
 * Finds the programs the HA suite runs (Patroni, patronictl, etcd, HAProxy
 * and the PostgreSQL server binaries Patroni starts), so that a machine
 * without one fails at once with the Debian package to install instead of
 * half-way through a scenario.
 *
 * @module
 */

/** Where each program lives. */
export interface Tools {
  patroni: string;
  patronictl: string;
  etcd: string;
  haproxy: string;
  /** The PostgreSQL server's bin directory (initdb, postgres, pg_rewind). */
  pgBin: string;
  /** Runs a command as another user without forking (Patroni refuses root). */
  setpriv: string;
}

const PACKAGE: Record<string, string> = {
  patroni: "patroni",
  patronictl: "patroni",
  etcd: "etcd-server",
  haproxy: "haproxy",
  setpriv: "util-linux",
};

/** Finds `name` on PATH (and the sbin directories, which root's PATH may lack). */
async function which(name: string): Promise<string | null> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** The newest PostgreSQL server installed under /usr/lib/postgresql. */
async function findPgBin(): Promise<string | null> {
  const versions: number[] = [];
  try {
    for await (const e of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(e.name)) versions.push(Number(e.name));
    }
  } catch {
    return null;
  }
  for (const v of versions.sort((a, b) => b - a)) {
    const bin = `/usr/lib/postgresql/${v}/bin`;
    try {
      await Deno.stat(`${bin}/pg_rewind`);
      await Deno.stat(`${bin}/postgres`);
      return bin;
    } catch {
      // an incomplete install
    }
  }
  return null;
}

/**
 * Locates every tool, or throws one error that lists each missing one with
 * the package that provides it.
 */
export async function findTools(): Promise<Tools> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of Object.keys(PACKAGE)) {
    const path = await which(name);
    if (path) found[name] = path;
    else missing.push(`${name} (apt-get install ${PACKAGE[name]})`);
  }
  const pgBin = await findPgBin();
  if (!pgBin) missing.push("PostgreSQL server binaries (apt-get install postgresql)");
  if (missing.length) {
    throw new Error(`deno task ha needs: ${missing.join(", ")}`);
  }
  return { ...found, pgBin: pgBin! } as unknown as Tools;
}
