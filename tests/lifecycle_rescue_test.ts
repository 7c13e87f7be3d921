/**
 * Stuck-task rescue: an unleased claim whose worker process was SIGKILLed
 * is recovered after staleAfterMs; a task whose worker keeps heartbeating
 * is not. recoverTasks does the same for a leader, for any term.
 */
import {
  claimLeadership,
  claimNextTask,
  ConflictError,
  createTask,
  getTask,
  listResultMessages,
  recoverTasks,
  updateTask,
} from "../mod.ts";
import { heartbeatTask, rescueStaleTasks } from "../src/lifecycle.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

const WORKER = new URL("./_lifecycle_worker.ts", import.meta.url).pathname;

/** A worker process; resolves once it has printed the task it claimed. */
async function spawnWorker(url: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", WORKER],
    env: { DATABASE_URL: url, HEARTBEAT_MS: "100" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  const { claimed } = JSON.parse(value!.split("\n")[0]);
  return {
    claimed: claimed as string,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await reader.cancel();
      await child.status;
    },
  };
}

dbTest(
  "an unleased claim whose worker was SIGKILLed is rescued after staleAfterMs; a heartbeating one is not",
  async (sql, ctx) => {
    const a = await createTask(sql, { action: "deploy_node", status: "queued" });
    const b = await createTask(sql, { action: "deploy_node", status: "queued" });
    const alive = await spawnWorker(ctx.url);
    const doomed = await spawnWorker(ctx.url);
    try {
      assertEquals(new Set([alive.claimed, doomed.claimed]), new Set([a.id, b.id]));
      const before = (await getTask(sql, doomed.claimed))!;
      assert(before.heartbeatAt !== null && before.claimedTerm === null);
      await doomed.kill();
      assertEquals(await rescueStaleTasks(sql, { staleAfterMs: 800 }), [], "rescued too early");
      await new Promise((r) => setTimeout(r, 1000));
      const rescued = await rescueStaleTasks(sql, { staleAfterMs: 800 });
      assertEquals(rescued.map((t) => [t.id, t.status, t.retry, t.claimedBy]), [
        [doomed.claimed, "queued", 1, null],
      ]);
      const [note] = await listResultMessages(sql, doomed.claimed);
      assert(note.message.includes("no heartbeat since"), note.message);
      assertEquals((await getTask(sql, alive.claimed))?.status, "running");
      assertEquals((await claimNextTask(sql, { claimedBy: "w2" }))?.id, doomed.claimed);
    } finally {
      await alive.kill();
      await doomed.kill();
    }
  },
);

dbTest(
  "recoverTasks({staleAfterMs}) recovers stale tasks of its own term and of none",
  async (sql) => {
    const lease = (await claimLeadership(sql, { identity: "a", leaseMs: 60_000 }))!;
    const leased = await createTask(sql, { action: "deploy_node", status: "queued" });
    await claimNextTask(sql, { lease });
    const unleased = await createTask(sql, { action: "deploy_node", status: "queued" });
    await claimNextTask(sql, { claimedBy: "w" });
    const fresh = await createTask(sql, { action: "deploy_node", status: "queued" });
    await claimNextTask(sql, { lease });
    assertEquals(await recoverTasks(sql, lease), [], "same term, no staleAfterMs: nothing");
    await sql`UPDATE tasks SET heartbeat_at = clock_timestamp() - interval '1 minute'
    WHERE id IN (${leased.id}, ${unleased.id})`;
    const recovered = await recoverTasks(sql, lease, { staleAfterMs: 30_000, to: "failed" });
    assertEquals(
      recovered.map((t) => [t.id, t.status, t.result.status]).sort(),
      [
        [leased.id, "complete", "failure"],
        [unleased.id, "complete", "failure"],
      ].sort(),
    );
    assertEquals((await getTask(sql, fresh.id))?.status, "running");
  },
);

dbTest(
  "heartbeatTask() renews heartbeatAt without a new version, and refuses a task not running",
  async (sql) => {
    await createTask(sql, { action: "deploy_node", status: "queued" });
    const task = (await claimNextTask(sql))!;
    await new Promise((r) => setTimeout(r, 20));
    await heartbeatTask(sql, task.id);
    const beat = (await getTask(sql, task.id))!;
    assert(beat.heartbeatAt!.getTime() > task.heartbeatAt!.getTime());
    assertEquals(beat.version, task.version);
    await updateTask(sql, task.id, { status: "complete" });
    await assertRejects(() => heartbeatTask(sql, task.id), ConflictError, "not running");
  },
);

dbTest("a stale task whose termination was requested is terminated, not requeued", async (sql) => {
  await createTask(sql, { action: "deploy_node", status: "queued" });
  const task = (await claimNextTask(sql))!;
  await sql`UPDATE tasks SET terminate = true,
    heartbeat_at = clock_timestamp() - interval '1 minute' WHERE id = ${task.id}`;
  const [t] = await rescueStaleTasks(sql, { staleAfterMs: 1000 });
  assertEquals([t.id, t.status, t.retry], [task.id, "terminated", 0]);
});
