/**
 * The cluster side of a scenario: switching synchronous replication on or
 * off, and checking afterwards that the old primary is back as a streaming
 * standby on the new timeline (or, when the primary did not move, that it
 * leads again), and whether Patroni ran pg_rewind to get it there.
 *
 * @module
 */
import { type Cluster, describe, waitHealthy } from "./cluster.ts";
import { clusterMembers, patchConfig, type PatroniNode } from "./patroni.ts";
import type { Scenario } from "./scenarios.ts";
import { waitFor } from "./wait.ts";

/** What became of the old primary. */
export interface Rejoin {
  ok: boolean;
  /** The members as Patroni reports them at the end. */
  detail: string;
  /** Seconds from the restore to a healthy cluster. */
  seconds: number;
  /** The pg_rewind lines of the old primary's Patroni log, if it ran. */
  rewind: string | null;
}

/** Sets `synchronous_mode` and waits until the standby's role matches it. */
export async function setSynchronous(c: Cluster, sync: boolean): Promise<void> {
  await patchConfig(c.nodes, { synchronous_mode: sync });
  await waitHealthy(c, 60_000, sync);
  if (!sync) {
    // The standby must have been dropped from synchronous_standby_names.
    await waitFor(
      "the standby to turn asynchronous",
      async () => {
        const m = await clusterMembers(c.nodes);
        return m?.every((x) => x.role !== "sync_standby");
      },
      30_000,
      250,
    );
  }
}

/** Checks the old primary's role after the restore. */
export async function checkRejoin(
  c: Cluster,
  s: Scenario,
  old: PatroniNode,
  restoreAt: number,
  logOffset: number,
): Promise<Rejoin> {
  const members = await clusterMembers(c.nodes);
  const me = members?.find((m) => m.name === old.name);
  const leader = members?.find((m) => m.role === "leader");
  const standbyRoles = ["sync_standby", "replica"];
  const ok = s.moves
    ? !!me && standbyRoles.includes(me.role) && me.timeline === leader?.timeline
    : leader?.name === old.name && members?.length === c.nodes.length;
  return {
    ok,
    detail: describe(members),
    seconds: (Date.now() - restoreAt) / 1000,
    rewind: await rewindLines(`${c.dir}/${old.name}.log`, logOffset),
  };
}

/** The lines mentioning pg_rewind written to `path` after `offset`. */
async function rewindLines(path: string, offset: number): Promise<string | null> {
  const bytes = await Deno.readFile(path);
  const text = new TextDecoder().decode(bytes.subarray(offset));
  const lines = text.split("\n").filter((l) => /pg_rewind/.test(l));
  return lines.length ? lines.slice(0, 3).map((l) => l.slice(0, 200)).join(" | ") : null;
}
