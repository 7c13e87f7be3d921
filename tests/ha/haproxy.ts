/**
 * HAProxy routing one loopback port to whichever node Patroni's REST API
 * calls primary (`GET /primary` answers 200 only there). postgres.js
 * 3.4.9's multi-host URLs never fail over (DESIGN.md, "Pitfalls"), so the
 * clients connect single-host to this port, as Patroni's own documentation
 * deploys it. Sessions on a node marked down are cut at once, so no client
 * stays on a demoted primary.
 *
 * @module
 */
import { type Proc, spawn } from "./procs.ts";
import { waitFor } from "./wait.ts";

/** One backend: its PostgreSQL port and its Patroni REST port. */
export interface Backend {
  name: string;
  pgPort: number;
  apiPort: number;
}

/** The HAProxy configuration text. */
export function haproxyConfig(port: number, backends: Backend[]): string {
  const servers = backends.map((b) =>
    `  server ${b.name} 127.0.0.1:${b.pgPort} maxconn 200 check port ${b.apiPort}`
  );
  return [
    "global",
    "  maxconn 1000",
    "defaults",
    "  mode tcp",
    "  timeout connect 1s",
    "  timeout client 30m",
    "  timeout server 30m",
    "  timeout check 1s",
    "listen primary",
    `  bind 127.0.0.1:${port}`,
    "  option httpchk GET /primary",
    "  http-check expect status 200",
    // A check every 250 ms, down after 2 misses, up after 1 success.
    "  default-server inter 250ms fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions",
    ...servers,
    "",
  ].join("\n");
}

/** Starts HAProxy in the foreground on `port` and waits until it accepts connections. */
export async function startHaproxy(
  haproxyPath: string,
  dir: string,
  port: number,
  backends: Backend[],
): Promise<Proc> {
  const cfg = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(cfg, haproxyConfig(port, backends));
  const proc = await spawn("haproxy", haproxyPath, ["-db", "-f", cfg], `${dir}/haproxy.log`);
  await waitFor("haproxy to listen", async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  }, 10_000);
  return proc;
}
