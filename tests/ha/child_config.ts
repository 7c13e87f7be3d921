/**
 * The configuration the suite hands each workload child (one JSON
 * argument), so the children and the suite agree on one shape.
 *
 * @module
 */
import postgres from "postgres";

/** What every child is told. */
export interface ChildConfig {
  /** The single-host URL through HAProxy. */
  url: string;
  /** The scenario's schema: every table of the run lives there. */
  schema: string;
  /** This child's acknowledgement log. */
  log: string;
  /** A name for this child (instance identity, "producer", "subscriber"). */
  name: string;
  /** Instance children: the indexes of their workers. */
  workers?: number[];
}

/** The config from `Deno.args[0]`. */
export function childConfig(): ChildConfig {
  return JSON.parse(Deno.args[0]);
}

/**
 * A pool in the scenario's schema. Short connect time-out so that during a
 * failover a call fails within a couple of seconds and the loop retries,
 * instead of one connection attempt hanging on a proxy with no backend.
 */
export function openPool(c: ChildConfig, max: number) {
  return postgres(c.url, {
    max,
    connect_timeout: 2,
    idle_timeout: 30,
    max_lifetime: null,
    connection: { search_path: c.schema, application_name: c.name },
    onnotice: () => {},
  });
}

/** Resolves once SIGTERM arrives (the suite's "stop now"). */
export function terminated(): Promise<void> {
  return new Promise((resolve) => Deno.addSignalListener("SIGTERM", () => resolve()));
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
