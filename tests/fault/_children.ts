/**
 * Spawns and drives `_leader_child.ts` processes for the fault tests, the
 * soak and the bench: each child has its own connections; its JSON events
 * are collected with the parent's receive time.
 */
import type { ChildConfig } from "./_leader_child.ts";

export type { ChildConfig };

/** One event a child printed. */
export interface ChildEvent {
  ev: string;
  id: string;
  /** The child's wall clock when it printed the event (ms). */
  wall: number;
  term?: number;
  reason?: string;
  expiresAt?: number;
  ok?: boolean;
  fenced?: boolean;
  error?: string;
  seq?: number;
  ids?: string[];
  task?: string;
  [key: string]: unknown;
}

const CHILD = new URL("./_leader_child.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/** A running child process. */
export class Child {
  readonly identity: string;
  readonly events: ChildEvent[] = [];
  readonly stderr: string[] = [];
  #process: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #readers: Promise<void>;
  #waiters = new Set<() => void>();
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(url: string, config: ChildConfig) {
    this.identity = config.identity;
    this.#process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", CHILD],
      cwd: ROOT,
      env: { DATABASE_URL: url, CHILD_CONFIG: JSON.stringify(config) },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.#process.stdin.getWriter();
    this.status = this.#process.status.then((s) => {
      this.#exited = true;
      this.#notify();
      return s;
    });
    this.#readers = Promise.all([
      this.#lines(this.#process.stdout, (line) => {
        try {
          this.events.push(JSON.parse(line));
        } catch {
          this.stderr.push(`(stdout) ${line}`);
        }
        this.#notify();
      }),
      this.#lines(this.#process.stderr, (line) => this.stderr.push(line)),
    ]).then(() => {});
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  async #lines(stream: ReadableStream<Uint8Array>, fn: (line: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) fn(line);
      }
    }
    if (buffer.trim()) fn(buffer);
  }

  #notify(): void {
    for (const w of this.#waiters) w();
  }

  /** Events matching `pred` so far. */
  find(pred: (e: ChildEvent) => boolean): ChildEvent[] {
    return this.events.filter(pred);
  }

  /**
   * The first event from index `from` on that matches `pred`; waits for it
   * up to `timeoutMs`, failing with the child's recent output.
   */
  async waitFor(
    pred: (e: ChildEvent) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<ChildEvent> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(pred);
      if (found) return found;
      if (this.#exited) throw new Error(`${this.identity} exited:\n${this.#tail()}`);
      const left = end - performance.now();
      if (left <= 0) throw new Error(`${this.identity}: timed out:\n${this.#tail()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
  }

  #tail(): string {
    return [
      ...this.events.slice(-10).map((e) => JSON.stringify(e)),
      ...this.stderr.slice(-10),
    ].join("\n");
  }

  /** Sends a signal, unless the process is gone. */
  kill(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.#process.kill(signal);
    } catch (err) {
      if (!(err instanceof TypeError || err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  /** Asks the child to stop gracefully (release its lease) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode("stop\n"));
    await this.status;
  }

  /** Kills the child (if alive) and waits for it and its pipes: call in `finally`. */
  async close(): Promise<void> {
    this.kill("SIGKILL");
    await this.status;
    await this.#stdin.close().catch((err) => {
      if (!(err instanceof Deno.errors.BrokenPipe || err instanceof TypeError)) throw err;
    });
    await this.#readers;
  }
}

/** Kills and awaits every child, whatever happens. */
export async function closeAll(children: Iterable<Child>): Promise<void> {
  await Promise.all([...children].map((c) => c.close()));
}
