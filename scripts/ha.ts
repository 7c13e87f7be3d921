/**
 * `deno task ha`: the high-availability suite on a real Patroni cluster
 * (etcd, two PostgreSQL nodes with synchronous replication, HAProxy), all
 * on loopback and all stopped at the end. See tests/ha/suite.ts.
 *
 * Usage: `deno task ha [--only 1,3] [--keep]`. Exits non-zero when a
 * must-pass scenario (1–3) fails, or when the run passes its time box.
 *
 * @module
 */
import { runSuite, stopEverything } from "../tests/ha/suite.ts";

/** The whole run's time box: the issue allows five minutes. */
const TIME_BOX_MS = 290_000;

async function abort(why: string): Promise<never> {
  console.error(`deno task ha: ${why}; stopping every process it started`);
  await stopEverything();
  Deno.exit(1);
}

const only = Deno.args.includes("--only")
  ? Deno.args[Deno.args.indexOf("--only") + 1].split(",").map(Number)
  : undefined;
const timer = setTimeout(() => abort(`over its ${TIME_BOX_MS / 1000} s time box`), TIME_BOX_MS);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => abort(`interrupted (${sig})`));
}
try {
  const failed = await runSuite({ only, keep: Deno.args.includes("--keep") });
  clearTimeout(timer);
  Deno.exit(failed > 0 ? 1 : 0);
} catch (err) {
  clearTimeout(timer);
  console.error(`deno task ha: ${err instanceof Error ? err.message : err}`);
  await stopEverything();
  Deno.exit(1);
}
