/**
 * `deno task bench [--quick] [--json] [--scale] [--peers] [--only=a,b]`:
 * operations per second of this module against raw postgres.js doing the
 * equivalent statements, measured in the same run on the same server
 * (`DATABASE_URL`, else 127.0.0.1:5432). `--scale` adds latency from 10k to
 * 1M tasks, `--peers` pg-boss and graphile-worker doing the same work.
 * `--quick` is the small pass of every section that CI runs so the benches
 * cannot rot.
 */
import { type BenchRow, benchSchema, config } from "../bench/_harness.ts";
import { benchTasks } from "../bench/tasks.ts";
import { benchBuildData } from "../bench/build_data.ts";
import { benchDesign } from "../bench/design.ts";
import { benchLeadership } from "../bench/leadership.ts";
import { benchPeers } from "../bench/peers.ts";
import { benchScale } from "../bench/scale.ts";
import { benchHttp } from "../bench/http.ts";
import { benchEvents } from "../bench/events.ts";

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

// Sections: the default ones run unless --only names others; --scale and
// --peers add the long ones (CI's --quick pass runs every section, small).
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const extra = ["scale", "peers"].filter((m) => Deno.args.includes(`--${m}`) || quick);
const wanted = (section: string) =>
  only
    ? only.includes(section)
    : ["tasks", "build", "leadership", "design", "events", "http"].includes(section) ||
      extra.includes(section);
const heading = (text: string) => json || console.log(`\n${text}`);

if (!json) console.log(`bench (${quick ? "quick" : "full"} mode)`);
const db = await benchSchema();
try {
  // Scale first: its memory row is the whole process's peak.
  if (wanted("scale")) {
    heading("scale: latency from 10k to 1M tasks (p50 ms; growth ratio = 1.5 / growth)");
    for (const row of await benchScale({ quick })) print(row);
  }
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
  if (wanted("events")) {
    heading("task events (baseline: the 1 ms target; for a watch, its poll interval)");
    for (const row of await benchEvents({ quick })) print(row);
  }
  if (wanted("http")) { for (const row of await benchHttp({ quick })) print(row); }
  if (wanted("peers")) {
    heading("peers on the same server (ratio > 1: ours better)");
    for (const row of await benchPeers({ quick })) print(row);
  }
} finally {
  await db.drop();
}
