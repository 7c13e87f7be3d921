/**
 * `deno task bench [--quick] [--json]`: operations per second of this
 * module against raw postgres.js doing the equivalent statements, measured
 * in the same run on the same server (`DATABASE_URL`, else 127.0.0.1:5432).
 * `--quick` is the small pass CI runs so the benches cannot rot.
 */
import { type BenchRow, benchSchema, config } from "../bench/_harness.ts";
import { benchTasks } from "../bench/tasks.ts";

const quick = Deno.args.includes("--quick");
const json = Deno.args.includes("--json");
const cfg = config(quick);

function print(row: BenchRow): void {
  if (json) {
    console.log(JSON.stringify(row));
    return;
  }
  const unit = row.unit ?? "ops/s";
  const fmt = (n: number) => n >= 100 ? n.toFixed(0) : n.toFixed(2);
  const extra = row.extra
    ? "  " + Object.entries(row.extra).map(([k, v]) => `${k}=${fmt(v)}`).join(" ")
    : "";
  console.log(
    `${row.name.padEnd(34)} ${fmt(row.opsPerSec).padStart(9)} ${unit.padEnd(6)}` +
      ` baseline ${fmt(row.baselineOpsPerSec).padStart(9)}  ratio ${row.ratio.toFixed(2)}${extra}`,
  );
}

if (!json) console.log(`bench (${quick ? "quick" : "full"} mode)\n`);
const db = await benchSchema();
try {
  for (const row of await benchTasks(cfg, db)) print(row);
} finally {
  await db.drop();
}
