/**
 * The etcd that holds Patroni's leader key: one member on loopback, its
 * data in the run's temporary directory.
 *
 * @module
 */
import { type Proc, spawn } from "./procs.ts";
import { waitFor } from "./wait.ts";

/** A running etcd. */
export interface Etcd {
  proc: Proc;
  /** host:port of the client API, as Patroni's `etcd3.hosts` takes it. */
  host: string;
}

/** Starts etcd on `clientPort`/`peerPort` and waits until it answers. */
export async function startEtcd(
  etcdPath: string,
  dir: string,
  clientPort: number,
  peerPort: number,
): Promise<Etcd> {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = await spawn("etcd", etcdPath, [
    "--name=ha",
    `--data-dir=${dir}/etcd`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=ha=${peer}`,
    "--initial-cluster-state=new",
    "--log-level=warn",
  ], `${dir}/etcd.log`);
  await waitFor("etcd health", async () => {
    const r = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
    const body = await r.json();
    return body.health === "true";
  }, 20_000);
  return { proc, host: `127.0.0.1:${clientPort}` };
}
