/**
 * The HA suite: finds the tools, brings the cluster up in a temporary
 * directory, runs every scenario (or those asked for), prints the results,
 * and always takes everything down again — processes by their ids, then
 * the directory.
 *
 * @module
 */
import { type Cluster, startCluster, stopCluster } from "./cluster.ts";
import { killMarked, stillRunning, stopAll } from "./procs.ts";
import { formatResult, summary } from "./report.ts";
import { type Result, runScenario } from "./scenario_run.ts";
import { SCENARIOS } from "./scenarios.ts";
import { findTools } from "./tools.ts";

/** Options of {@linkcode runSuite}. */
export interface SuiteOptions {
  /** Scenario numbers to run. @default all */
  only?: number[];
  /** Keep the temporary directory (logs) for a post-mortem. @default false */
  keep?: boolean;
}

let current: { cluster: Cluster | null; dir: string } | null = null;

/**
 * Stops every process of the run in progress, for an abort (time box,
 * signal): the registry's processes and whatever carries the run's marker.
 */
export async function stopEverything(): Promise<void> {
  if (current?.cluster) await stopCluster(current.cluster);
  await stopAll();
  if (current) await killMarked(current.dir);
}

/** Runs the suite; resolves with the number of must-pass scenarios that failed. */
export async function runSuite(opts: SuiteOptions = {}): Promise<number> {
  const tools = await findTools();
  const dir = await Deno.makeTempDir({ prefix: "drydock-ha-" });
  let cluster: Cluster | null = null;
  const results: Result[] = [];
  try {
    const t0 = performance.now();
    current = { cluster: null, dir };
    cluster = await startCluster(tools, dir);
    current.cluster = cluster;
    console.log(`cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dir})`);
    for (const s of SCENARIOS.filter((x) => !opts.only || opts.only.includes(x.n))) {
      const r = await runScenario(cluster, s, dir);
      results.push(r);
      console.log(formatResult(r));
    }
  } finally {
    if (cluster) await stopCluster(cluster);
    await stopAll();
    const stray = await killMarked(dir);
    if (stray.length) console.error(`killed ${stray.length} stray processes of this run`);
    current = null;
    const left = stillRunning();
    if (left.length) console.error(`still running: ${left.map((p) => `${p.name} ${p.pid}`)}`);
    if (opts.keep) console.log(`kept ${dir}`);
    else await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const { text, failed } = summary(results);
  console.log(text);
  return failed;
}
