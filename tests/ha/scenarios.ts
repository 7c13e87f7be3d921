/**
 * The four failovers the suite puts the workload through: what each does
 * to the primary, how the cluster is made whole again afterwards, and
 * whether the scenario must pass or is a measurement.
 *
 * @module
 */
import type { Cluster } from "./cluster.ts";
import { killNode, killPostmaster, type PatroniNode, startNode, switchover } from "./patroni.ts";

/** One scenario. */
export interface Scenario {
  n: number;
  title: string;
  /** Synchronous replication (`synchronous_mode`) during the scenario. */
  sync: boolean;
  /** Whether the suite fails when the scenario does; scenario 4 is a measurement. */
  mustPass: boolean;
  /** Target for kill → first write and kill → first `elected`, ms. */
  targetMs: number;
  /** Whether the primary is expected to move to the other node. */
  moves: boolean;
  /** Breaks the primary. */
  fault(c: Cluster, primary: PatroniNode, standby: PatroniNode): Promise<void>;
  /** Brings the broken node back (it must rejoin as a standby). */
  restore(c: Cluster, primary: PatroniNode): Promise<void>;
}

const TTL_MS = 10_000;

const nothing = () => Promise.resolve();

/** The scenarios, in the order they run. */
export const SCENARIOS: Scenario[] = [
  {
    n: 1,
    title: "primary's postmaster SIGKILLed",
    sync: true,
    mustPass: true,
    targetMs: 5_000,
    moves: false,
    fault: async (_c, primary) => void await killPostmaster(primary),
    restore: nothing, // Patroni restarts it in place: it still holds the leader key
  },
  {
    n: 2,
    title: "primary's whole node (Patroni + PostgreSQL) SIGKILLed",
    sync: true,
    mustPass: true,
    targetMs: TTL_MS + 5_000,
    moves: true,
    fault: (_c, primary) => killNode(primary),
    restore: (c, primary) => startNode(primary, c.tools),
  },
  {
    n: 3,
    title: "graceful patronictl switchover",
    sync: true,
    mustPass: true,
    targetMs: 5_000,
    moves: true,
    fault: async (c, primary, standby) =>
      void await switchover(c.tools, primary, primary.name, standby.name),
    restore: nothing, // Patroni demotes the old primary to a standby itself
  },
  {
    n: 4,
    title: "whole node SIGKILLed, synchronous replication off (measurement)",
    sync: false,
    mustPass: false,
    targetMs: TTL_MS + 5_000,
    moves: true,
    fault: (_c, primary) => killNode(primary),
    restore: (c, primary) => startNode(primary, c.tools),
  },
];
