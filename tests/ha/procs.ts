/**
 * The processes the suite starts, each in its own process group and session
 * so that a node can be SIGKILLed whole, and a registry of them so that
 * every one is stopped at the end, by its id, even when a scenario fails.
 *
 * @module
 */

/** A started process. */
export interface Proc {
  name: string;
  pid: number;
  child: Deno.ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number>;
  /** Where its stdout and stderr go. */
  logPath: string;
}

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
}

const running = new Map<number, Proc>();

/** Starts `cmd args…` in a new session, its output appended to `logPath`. */
export function spawn(
  name: string,
  cmd: string,
  args: string[],
  logPath: string,
  opts: SpawnOptions = {},
): Promise<Proc> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true, // its own process group and session: killable as a whole
  }).spawn();
  // One handle per stream (O_APPEND): a writable stream takes one pipe at a time.
  const copies = [child.stdout, child.stderr].map(async (s) => {
    const log = await Deno.open(logPath, { create: true, append: true });
    try {
      // Chunk by chunk: pipeTo(file.writable) held the output until the end.
      for await (const chunk of s) {
        for (let off = 0; off < chunk.length;) off += await log.write(chunk.subarray(off));
      }
    } catch {
      // the process ended
    } finally {
      log.close();
    }
  });
  const exited = child.status.then(async (s) => {
    await Promise.all(copies);
    running.delete(child.pid);
    return s.code;
  });
  const proc = { name, pid: child.pid, child, exited, logPath };
  running.set(child.pid, proc);
  return Promise.resolve(proc);
}

/** Sends `signal` to the whole process group led by `pid`; false if it is gone. */
export function killGroup(pid: number, signal: Deno.Signal = "SIGKILL"): boolean {
  try {
    Deno.kill(-pid, signal);
    return true;
  } catch {
    try {
      Deno.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Whether a process with this id exists. */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Stops one process: `signal`, then SIGKILL to its group after `graceMs`. */
export async function stop(proc: Proc, signal: Deno.Signal = "SIGTERM", graceMs = 5000) {
  if (!running.has(proc.pid)) return;
  killGroup(proc.pid, signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => timer = setTimeout(() => r(false), graceMs));
  const done = await Promise.race([proc.exited.then(() => true), late]);
  clearTimeout(timer);
  if (!done) {
    killGroup(proc.pid, "SIGKILL");
    await proc.exited;
  }
}

/** Stops every process still running, newest first. */
export async function stopAll(): Promise<void> {
  const procs = [...running.values()].reverse();
  await Promise.all(procs.map((p) => stop(p, "SIGTERM", 3000)));
}

/** The processes still running (for the final report). */
export function stillRunning(): Proc[] {
  return [...running.values()];
}

/**
 * SIGKILLs, by pid, every process whose command line contains `marker` (a
 * string unique to this run: its temporary directory or cluster name).
 * PostgreSQL's postmaster runs in a session of its own and its auxiliary
 * processes outlive a SIGKILLed postmaster for a while, so neither is in a
 * process group this registry started; the marker finds them all.
 */
export async function killMarked(marker: string): Promise<number[]> {
  const killed: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    let cmdline: string;
    try {
      cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ");
    } catch {
      continue; // gone, or not ours to read
    }
    if (!cmdline.includes(marker)) continue;
    try {
      Deno.kill(pid, "SIGKILL");
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  return killed;
}

/** The pids of `pid`'s descendants, from /proc (parent links). */
async function descendants(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for await (const e of Deno.readDir("/proc")) {
    const p = Number(e.name);
    if (!Number.isInteger(p)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${p}/stat`);
      // "pid (comm) state ppid …": comm may hold spaces, so split after its ")".
      parent.set(p, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/**
 * SIGKILLs each of `roots` with every descendant at the same instant, as a
 * power loss would: all are frozen with SIGSTOP first, so none sees the
 * others die and acts on it (a PostgreSQL backend outliving its postmaster
 * would otherwise finish its statement or wait on for replication).
 */
export async function killTrees(roots: number[]): Promise<void> {
  const all: number[] = [];
  for (const r of roots) all.push(r, ...await descendants(r));
  for (const p of all) signalQuietly(p, "SIGSTOP");
  for (const p of all) signalQuietly(p, "SIGKILL");
}

function signalQuietly(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // already gone
  }
}
