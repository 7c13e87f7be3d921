/**
 * One Patroni node: its configuration (synchronous replication, `ttl: 10`,
 * `loop_wait: 1`, pg_rewind with `wal_log_hints` and data checksums, commit
 * timestamps for the checker), starting it as the `postgres` user, killing
 * its PostgreSQL or the whole node, and reading its REST API.
 *
 * @module
 */
import { killTrees, type Proc, spawn, stop } from "./procs.ts";
import type { Tools } from "./tools.ts";

/** The superuser the suite connects as. */
export const SUPERUSER = { username: "postgres", password: "ha-super" };

/** What a node is, where it listens and where it keeps its files. */
export interface NodeSpec {
  name: string;
  pgPort: number;
  apiPort: number;
  /** The node's own directory (owned by postgres). */
  dir: string;
}

/** A node and, while it runs, its Patroni process. */
export interface PatroniNode extends NodeSpec {
  configPath: string;
  proc: Proc | null;
}

/** The cluster-wide settings Patroni bootstraps into etcd. */
function bootstrap(): unknown {
  return {
    dcs: {
      ttl: 10,
      loop_wait: 1,
      retry_timeout: 4, // loop_wait + 2 × retry_timeout must not pass ttl
      maximum_lag_on_failover: 16 * 1024 * 1024,
      synchronous_mode: true,
      postgresql: {
        use_pg_rewind: true,
        use_slots: true,
        parameters: {
          wal_level: "replica",
          hot_standby: "on",
          wal_log_hints: "on",
          // The checker orders fenced writes by their commit time.
          track_commit_timestamp: "on",
          max_connections: 200,
          max_wal_senders: 10,
          max_replication_slots: 10,
          wal_keep_size: "256MB",
          shared_buffers: "64MB",
        },
      },
    },
    initdb: [{ encoding: "UTF8" }, "data-checksums", { locale: "C" }],
    pg_hba: [
      "local all all trust",
      "host replication replicator 127.0.0.1/32 scram-sha-256",
      "host all all 127.0.0.1/32 scram-sha-256",
    ],
  };
}

/** The node's Patroni configuration (JSON is YAML). */
export function patroniConfig(spec: NodeSpec, scope: string, etcdHost: string, tools: Tools) {
  return {
    scope,
    namespace: "/drydock-ha/",
    name: spec.name,
    log: { level: "INFO" },
    restapi: {
      listen: `127.0.0.1:${spec.apiPort}`,
      connect_address: `127.0.0.1:${spec.apiPort}`,
    },
    etcd3: { hosts: [etcdHost] },
    bootstrap: bootstrap(),
    postgresql: {
      listen: `127.0.0.1:${spec.pgPort}`,
      connect_address: `127.0.0.1:${spec.pgPort}`,
      data_dir: `${spec.dir}/data`,
      bin_dir: tools.pgBin,
      pgpass: `${spec.dir}/pgpass`,
      authentication: {
        superuser: SUPERUSER,
        replication: { username: "replicator", password: "ha-repl" },
      },
      parameters: { unix_socket_directories: spec.dir },
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}

/** Writes the node's directory and configuration; returns the node, not started. */
export async function prepareNode(
  spec: NodeSpec,
  scope: string,
  etcdHost: string,
  tools: Tools,
  postgresUid: number,
  postgresGid: number,
): Promise<PatroniNode> {
  await Deno.mkdir(spec.dir, { recursive: true, mode: 0o700 });
  const configPath = `${spec.dir}/patroni.yml`;
  await Deno.writeTextFile(configPath, JSON.stringify(patroniConfig(spec, scope, etcdHost, tools)));
  await Deno.chown(spec.dir, postgresUid, postgresGid);
  await Deno.chown(configPath, postgresUid, postgresGid);
  return { ...spec, configPath, proc: null };
}

/** Starts Patroni on the node, as the postgres user (it refuses root). */
export async function startNode(node: PatroniNode, tools: Tools): Promise<void> {
  node.proc = await spawn(
    `patroni ${node.name}`,
    tools.setpriv,
    ["--reuid=postgres", "--regid=postgres", "--init-groups", tools.patroni, node.configPath],
    `${node.dir}/../${node.name}.log`,
    { env: { PATH: "/usr/bin:/bin", HOME: node.dir, LANG: "C.UTF-8" } },
  );
}

/** The postmaster's pid from `postmaster.pid`, or null when it has none. */
export async function postmasterPid(node: NodeSpec): Promise<number | null> {
  try {
    const text = await Deno.readTextFile(`${node.dir}/data/postmaster.pid`);
    const pid = Number(text.split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** SIGKILLs the node's postmaster alone (Patroni stays up and restarts it). */
export async function killPostmaster(node: NodeSpec): Promise<number> {
  const pid = await postmasterPid(node);
  if (pid === null) throw new Error(`${node.name} has no postmaster to kill`);
  Deno.kill(pid, "SIGKILL");
  return pid;
}

/**
 * SIGKILLs the whole node at once — Patroni and its process tree, and the
 * postmaster and its backends (Patroni starts PostgreSQL in a session of its
 * own, so it is not in Patroni's tree) — as a power loss would.
 */
export async function killNode(node: PatroniNode): Promise<void> {
  const pm = await postmasterPid(node);
  const roots = [node.proc?.pid, pm].filter((p): p is number => typeof p === "number");
  await killTrees(roots);
  if (node.proc) await node.proc.exited;
  node.proc = null;
}

/** Stops the node gracefully (Patroni shuts PostgreSQL down), SIGKILL after a grace period. */
export async function stopNode(node: PatroniNode): Promise<void> {
  if (node.proc) await stop(node.proc, "SIGTERM", 15_000);
  node.proc = null;
  const pm = await postmasterPid(node);
  if (pm !== null) await killTrees([pm]);
}

/** A member as Patroni's `/cluster` endpoint reports it. */
export interface Member {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

/** GET a Patroni REST path on `apiPort`; the parsed JSON (and status). */
export async function api(
  apiPort: number,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
    ...init,
    signal: AbortSignal.timeout(2000),
  });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text
  }
  return { status: r.status, body };
}

/** The cluster's members as any live node sees them, or null when none answers. */
export async function clusterMembers(nodes: NodeSpec[]): Promise<Member[] | null> {
  for (const n of nodes) {
    try {
      const { status, body } = await api(n.apiPort, "/cluster");
      if (status === 200) return (body as { members: Member[] }).members;
    } catch {
      // try the next node
    }
  }
  return null;
}

/** Changes dynamic configuration (e.g. `synchronous_mode`) through the REST API. */
export async function patchConfig(nodes: NodeSpec[], patch: unknown): Promise<void> {
  let last: unknown;
  for (const n of nodes) {
    try {
      const { status, body } = await api(n.apiPort, "/config", {
        method: "PATCH",
        body: JSON.stringify(patch),
      });
      if (status === 200) return;
      last = new Error(`PATCH /config: ${status} ${JSON.stringify(body)}`);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** A graceful switchover with `patronictl switchover`, from `leader` to `candidate`. */
export async function switchover(
  tools: Tools,
  node: PatroniNode,
  leader: string,
  candidate: string,
): Promise<string> {
  const out = await new Deno.Command(tools.patronictl, {
    args: [
      "-c",
      node.configPath,
      "switchover",
      "--leader",
      leader,
      "--candidate",
      candidate,
      "--force",
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`patronictl switchover failed: ${text}`);
  return text;
}
