/**
 * `deno task bench [--quick] [--json]`: operations per second of this
 * module against raw postgres.js doing the equivalent statements, measured
 * in the same run on the same server (`DATABASE_URL`, else 127.0.0.1:5432).
 * `--quick` is the small pass CI runs so the benches cannot rot.
 */
import { type BenchRow, benchSchema, config } from "../bench/_harness.ts";
import { benchTasks } from "../bench/tasks.ts";
import { benchBuildData } from "../bench/build_data.ts";
import { benchDesign } from "../bench/design.ts";
import { benchLeadership } from "../bench/leadership.ts";

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
    `${row.name.padEnd(64)} ${fmt(row.opsPerSec).padStart(9)} ${unit.padEnd(6)}` +
      ` baseline ${fmt(row.baselineOpsPerSec).padStart(9)}  ratio ${row.ratio.toFixed(2)}${extra}`,
  );
}

const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const wanted = (section: string) => !only || only.includes(section);
const heading = (text: string) => json || console.log(`\n${text}`);

if (!json) console.log(`bench (${quick ? "quick" : "full"} mode)`);
const db = await benchSchema();
try {
  if (wanted("tasks")) {
    heading("tasks and result messages (baseline: raw postgres.js, same records)");
    for (const row of await benchTasks(cfg, db)) print(row);
  }
  if (wanted("build")) {
    heading("build data (baseline: raw postgres.js)");
    for (const row of await benchBuildData({ quick, sql: db.sql })) print(row);
  }
  if (wanted("leadership")) {
    heading("leader failover (baseline: the target; Drydock's worst case is 330 s)");
    for (const row of await benchLeadership({ quick, url: db.url })) print(row);
  }
  if (wanted("design")) {
    heading("design references (baseline: bare Deno.readFile / fetch)");
    for (const row of await benchDesign({ quick })) print(row);
  }
} finally {
  await db.drop();
}
