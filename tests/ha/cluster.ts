/**
 * The whole HA environment of one run: etcd, two Patroni nodes and HAProxy
 * on free loopback ports under one temporary directory; waiting for it to be
 * healthy; and taking it all down again.
 *
 * @module
 */
import { type Etcd, startEtcd } from "./etcd.ts";
import { startHaproxy } from "./haproxy.ts";
import {
  clusterMembers,
  type Member,
  type PatroniNode,
  prepareNode,
  startNode,
  stopNode,
  SUPERUSER,
} from "./patroni.ts";
import { freePorts } from "./ports.ts";
import { killMarked, type Proc, stop } from "./procs.ts";
import type { Tools } from "./tools.ts";
import { waitFor } from "./wait.ts";

/** A running environment. */
export interface Cluster {
  tools: Tools;
  dir: string;
  etcd: Etcd;
  nodes: PatroniNode[];
  haproxy: Proc;
  /** The single-host URL through HAProxy, to whichever node is primary. */
  url: string;
  /** Patroni's cluster name; unique to the run, it is in every PostgreSQL process title. */
  scope: string;
}

/** The uid and gid of the `postgres` user, which Patroni runs as. */
async function postgresIds(): Promise<[number, number]> {
  const passwd = await Deno.readTextFile("/etc/passwd");
  const line = passwd.split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("no postgres user: apt-get install postgresql");
  const [, , uid, gid] = line.split(":");
  return [Number(uid), Number(gid)];
}

/** Starts every process and waits for a primary and a streaming standby. */
export async function startCluster(tools: Tools, dir: string): Promise<Cluster> {
  await Deno.chmod(dir, 0o755); // postgres must reach its node directories
  const [etcdClient, etcdPeer, pg1, api1, pg2, api2, proxy] = freePorts(7);
  const etcd = await startEtcd(tools.etcd, dir, etcdClient, etcdPeer);
  const [uid, gid] = await postgresIds();
  const scope = `drydock-ha-${crypto.randomUUID().slice(0, 8)}`;
  const specs = [
    { name: "pg1", pgPort: pg1, apiPort: api1, dir: `${dir}/pg1` },
    { name: "pg2", pgPort: pg2, apiPort: api2, dir: `${dir}/pg2` },
  ];
  const nodes: PatroniNode[] = [];
  for (const s of specs) nodes.push(await prepareNode(s, scope, etcd.host, tools, uid, gid));
  const partial = { tools, dir, etcd, nodes, haproxy: null as unknown as Proc, url: "", scope };
  try {
    // The first node bootstraps alone, so it is the one that runs initdb.
    await startNode(nodes[0], tools);
    await waitFor(
      "pg1 to bootstrap as primary",
      async () => {
        const m = await clusterMembers(nodes);
        return m?.some((x) => x.name === "pg1" && x.role === "leader" && x.state === "running");
      },
      60_000,
      500,
    );
    await startNode(nodes[1], tools);
    partial.haproxy = await startHaproxy(tools.haproxy, dir, proxy, nodes);
    partial.url =
      `postgres://${SUPERUSER.username}:${SUPERUSER.password}@127.0.0.1:${proxy}/postgres`;
    await waitHealthy(partial, 90_000);
    return partial;
  } catch (err) {
    await stopCluster(partial);
    throw err;
  }
}

/** A short, stable description of the members, for logs. */
export function describe(members: Member[] | null): string {
  if (!members) return "no node answers";
  return members.map((m) => `${m.name}:${m.role}/${m.state}/tl${m.timeline ?? "?"}`).join(" ");
}

/** Whether the cluster has one leader and every other node streaming as a standby. */
export function healthy(members: Member[] | null, nodes: number, sync: boolean): boolean {
  if (!members || members.length !== nodes) return false;
  const leaders = members.filter((m) => m.role === "leader" && m.state === "running");
  const standbys = members.filter((m) =>
    (m.role === "sync_standby" || (!sync && m.role === "replica")) &&
    (m.state === "streaming" || m.state === "running")
  );
  return leaders.length === 1 && standbys.length === nodes - 1;
}

/** Waits until {@linkcode healthy}; returns the members. */
export function waitHealthy(c: Pick<Cluster, "nodes">, timeoutMs: number, sync = true) {
  return waitFor(
    `a primary and a streaming ${sync ? "synchronous " : ""}standby`,
    async () => {
      const m = await clusterMembers(c.nodes);
      return healthy(m, c.nodes.length, sync) ? m! : undefined;
    },
    timeoutMs,
    250,
  );
}

/** The name of the current leader, or null. */
export async function leaderName(c: Pick<Cluster, "nodes">): Promise<string | null> {
  const m = await clusterMembers(c.nodes);
  return m?.find((x) => x.role === "leader")?.name ?? null;
}

/** Stops HAProxy, both nodes and etcd; never throws. */
export async function stopCluster(c: Partial<Cluster>): Promise<void> {
  if (c.haproxy) await stop(c.haproxy).catch(() => {});
  for (const n of c.nodes ?? []) await stopNode(n).catch(() => {});
  if (c.etcd) await stop(c.etcd.proc).catch(() => {});
  // Whatever a SIGKILLed node left behind (auxiliary processes of a dead
  // postmaster): the cluster name and directory are unique to this run.
  if (c.scope) await killMarked(c.scope);
  if (c.dir) await killMarked(c.dir);
}
