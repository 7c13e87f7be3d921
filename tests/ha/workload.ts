/**
 * Starts and stops the workload children of one scenario: the subscriber
 * first (so it sees every event from the first task on), two orchestrator
 * instances of four workers each, and the producer; stopped in the reverse
 * order, so the subscriber drains last.
 *
 * @module
 */
import type { ChildConfig } from "./child_config.ts";
import { type Proc, spawn, stop } from "./procs.ts";
import { waitFor } from "./wait.ts";

/** The running children of a scenario. */
export interface Workload {
  subscriber: Proc;
  instances: Proc[];
  producer: Proc;
  /** Where the children write their acknowledgement logs. */
  logDir: string;
}

const HERE = new URL(".", import.meta.url).pathname;

/** Starts one child and waits for it to print "ready". */
async function child(file: string, config: ChildConfig, outPath: string): Promise<Proc> {
  const proc = await spawn(
    config.name,
    Deno.execPath(),
    [
      "run",
      "--allow-all",
      "--quiet",
      `${HERE}${file}`,
      JSON.stringify(config),
    ],
    outPath,
    { env: { ...Deno.env.toObject(), NO_COLOR: "1" } },
  );
  await waitFor(
    `${config.name} to start`,
    async () => {
      if ((await Promise.race([proc.exited, Promise.resolve(null)])) !== null) {
        throw new Error(`${config.name} exited: see ${outPath}`);
      }
      return (await Deno.readTextFile(outPath)).includes("ready");
    },
    30_000,
    100,
  );
  return proc;
}

/** Starts the scenario's workload against `url` in `schema`, logging under `dir`. */
export async function startWorkload(url: string, schema: string, dir: string): Promise<Workload> {
  const logDir = `${dir}/acks`;
  await Deno.mkdir(logDir, { recursive: true });
  const cfg = (name: string, workers?: number[]): ChildConfig => ({
    url,
    schema,
    name,
    workers,
    log: `${logDir}/${name}.jsonl`,
  });
  const started: Proc[] = [];
  try {
    const subscriber = await child("subscriber.ts", cfg("subscriber"), `${dir}/subscriber.out`);
    started.push(subscriber);
    const instances = await Promise.all([
      child("instance.ts", cfg("instance-a", [0, 1, 2, 3]), `${dir}/instance-a.out`),
      child("instance.ts", cfg("instance-b", [4, 5, 6, 7]), `${dir}/instance-b.out`),
    ]);
    started.push(...instances);
    const producer = await child("producer.ts", cfg("producer"), `${dir}/producer.out`);
    return { subscriber, instances, producer, logDir };
  } catch (err) {
    for (const p of started.reverse()) await stop(p, "SIGKILL", 1000);
    throw err;
  }
}

/** Stops the producer, then the instances, then the subscriber (after it drains). */
export async function stopWorkload(w: Workload): Promise<void> {
  await stop(w.producer, "SIGTERM", 10_000);
  await Promise.all(w.instances.map((p) => stop(p, "SIGTERM", 15_000)));
  await stop(w.subscriber, "SIGTERM", 15_000);
}
