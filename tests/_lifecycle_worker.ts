/**
 * A worker process for tests/lifecycle_rescue_test.ts: claims one task
 * without a lease, prints `{"claimed": id}`, then heartbeats it every
 * HEARTBEAT_MS until it is killed.
 */
import postgres from "postgres";
import { claimNextTask } from "../mod.ts";
import { heartbeatTask } from "../src/lifecycle.ts";

const sql = postgres(Deno.env.get("DATABASE_URL")!, { max: 1, onnotice: () => {} });
const task = await claimNextTask(sql, { claimedBy: `worker-${Deno.pid}` });
console.log(JSON.stringify({ claimed: task?.id ?? null, pid: Deno.pid }));
const every = Number(Deno.env.get("HEARTBEAT_MS") ?? "100");
for (;;) {
  await new Promise((r) => setTimeout(r, every));
  if (task) await heartbeatTask(sql, task.id);
}
