/**
 * A workload child: the writer that queues new tasks, a small batch every
 * 100 ms with `createTasks`. Each batch's ids are chosen here and logged
 * before the call ("create-try") and once acknowledged ("create"), so the
 * checker knows which tasks must exist and which were in doubt.
 *
 * @module
 */
import { createTasks } from "../../mod.ts";
import { errorFields, openAckLog } from "./ack_log.ts";
import { childConfig, openPool, sleep } from "./child_config.ts";

const BATCH = 4;
const EVERY_MS = 100;

async function main(): Promise<void> {
  const c = childConfig();
  const log = openAckLog(c.log);
  const sql = openPool(c, 2);
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);
  console.log("ready");
  while (!stopping) {
    const ids = Array.from({ length: BATCH }, () => crypto.randomUUID());
    const t0 = Date.now();
    log.write({ kind: "create-try", t0, t1: t0, ids });
    try {
      await createTasks(sql, ids.map((id) => ({ id, action: "deploy_node", status: "queued" })));
      log.write({ kind: "create", t0, t1: Date.now(), ids });
    } catch (err) {
      log.write({ kind: "fail", t0, t1: Date.now(), op: "create", ids, ...errorFields(err) });
    }
    await sleep(Math.max(0, EVERY_MS - (Date.now() - t0)));
  }
  await sql.end({ timeout: 2 });
  log.close();
}

if (import.meta.main) await main();
