/**
 * A loopback TCP proxy for fault tests: it sits between a client and
 * PostgreSQL and can cut the link (close every connection and refuse new
 * ones) or partition it (stop forwarding bytes while the sockets stay open,
 * as a dropped network does), then heal. With `delayMs` it models a slower
 * link, for the bench.
 */

/** Where the proxy forwards to. */
export interface ProxyTarget {
  hostname: string;
  port: number;
}

/** A running proxy. */
export interface TcpProxy {
  /** The loopback port clients connect to. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
  /** Closes every open connection and refuses new ones until {@linkcode heal}. */
  cut(): void;
  /** Stops forwarding bytes, both ways, on every connection (old and new); sockets stay open. */
  partition(): void;
  /** Forwards again and accepts new connections. */
  heal(): void;
  /** Stops listening and closes everything. */
  close(): Promise<void>;
}

/** A link: client ↔ upstream, pumped both ways. */
interface Link {
  client: Deno.TcpConn;
  upstream: Deno.TcpConn | null;
  closed: boolean;
}

/** Errors a pump meets when its link is cut under it: expected, they end the pump. */
function isClosedError(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionRefused ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.NotConnected;
}

/** Options of {@linkcode startProxy}. */
export interface ProxyOptions {
  /** Hold every chunk this long before forwarding it, each way: a slower link. */
  delayMs?: number;
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`. */
export function startProxy(target: ProxyTarget, opts: ProxyOptions = {}): TcpProxy {
  const delayMs = opts.delayMs ?? 0;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const links = new Set<Link>();
  const tasks = new Set<Promise<void>>();
  let refusing = false;
  let paused = false;
  let accepted = 0;
  let gate: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  gate.resolve();

  function track(p: Promise<void>): void {
    tasks.add(p);
    p.finally(() => tasks.delete(p));
  }

  function closeLink(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    links.delete(link);
    for (const c of [link.client, link.upstream]) {
      if (!c) continue;
      try {
        c.close();
      } catch (err) {
        if (!(err instanceof Deno.errors.BadResource)) throw err;
      }
    }
  }

  async function pump(link: Link, from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (!link.closed) {
        const n = await from.read(buf);
        if (n === null) break;
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        // A partition holds the bytes here until it heals.
        while (paused && !link.closed) await gate.promise;
        if (link.closed) break;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch (err) {
      if (!isClosedError(err)) throw err;
    } finally {
      closeLink(link);
    }
  }

  async function serve(client: Deno.TcpConn): Promise<void> {
    const link: Link = { client, upstream: null, closed: false };
    links.add(link);
    if (refusing) return closeLink(link);
    try {
      link.upstream = await Deno.connect({ hostname: target.hostname, port: target.port });
    } catch (err) {
      closeLink(link);
      if (isClosedError(err)) return;
      throw err;
    }
    if (link.closed) return closeLink(link);
    await Promise.all([pump(link, client, link.upstream), pump(link, link.upstream, client)]);
  }

  async function acceptLoop(): Promise<void> {
    try {
      for await (const conn of listener) {
        accepted++;
        track(serve(conn));
      }
    } catch (err) {
      if (!isClosedError(err)) throw err;
    }
  }

  const acceptor = acceptLoop();
  const port = (listener.addr as Deno.NetAddr).port;

  return {
    port,
    get accepted() {
      return accepted;
    },
    url(url: string): string {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    cut(): void {
      refusing = true;
      for (const link of [...links]) closeLink(link);
    },
    partition(): void {
      if (paused) return;
      paused = true;
      gate = Promise.withResolvers<void>();
    },
    heal(): void {
      refusing = false;
      if (paused) {
        paused = false;
        gate.resolve();
      }
    },
    async close(): Promise<void> {
      refusing = true;
      listener.close();
      for (const link of [...links]) closeLink(link);
      paused = false;
      gate.resolve();
      await acceptor;
      while (tasks.size) await Promise.all([...tasks]);
    },
  };
}
