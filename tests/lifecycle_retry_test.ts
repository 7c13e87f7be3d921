/**
 * retryTask and runAfter: attempts, back-off, scheduling, and recovery
 * that honours maxAttempts.
 */
import {
  claimNextTask,
  claimTasks,
  createTask,
  createTasks,
  getTask,
  listResultMessages,
  type Sql,
  ValidationError,
} from "../mod.ts";
import { recordResult, rescueStaleTasks, retryTask } from "../src/lifecycle.ts";
import { OUT_OF_ATTEMPTS, RETRYING } from "../src/lifecycle/retry.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

/** A running task that failed on `failures` (and succeeded on `successes`). */
async function failed(sql: Sql, failures: string[], successes: string[] = []) {
  await createTask(sql, { action: "deploy_node", status: "queued" });
  const task = (await claimNextTask(sql, { claimedBy: "w1" }))!;
  return await recordResult(sql, task.id, { failures, successes });
}

dbTest(
  "retryTask() requeues a failed task after its back-off: not claimable before, claimable after",
  async (sql) => {
    const task = await failed(sql, ["node05"], ["node01"]);
    const { retried, task: t } = await retryTask(sql, task.id, { backoffMs: 400 });
    assert(retried);
    assertEquals([t.status, t.retry, t.result.status, t.result.successes, t.result.failures], [
      "queued",
      1,
      "success", // it has successes: Drydock resets to success, else incomplete
      ["node01"],
      [],
    ]);
    assertEquals([t.claimedBy, t.heartbeatAt], [null, null]);
    const wait = t.runAfter!.getTime() - t.updated!.getTime();
    assert(wait >= 399 && wait <= 401, `runAfter ${wait} ms after the write`);
    const [note] = await listResultMessages(sql, t.id);
    assertEquals([note.message, note.context, note.error], [RETRYING, "node05", false]);
    assertEquals(await claimNextTask(sql), null, "claimed before its runAfter");
    await new Promise((r) => setTimeout(r, 450));
    const again = await claimNextTask(sql, { claimedBy: "w2" });
    assertEquals([again?.id, again?.retry, again?.claimedBy], [t.id, 1, "w2"]);
  },
);

dbTest(
  "retryTask(): the default back-off grows from 1 s, a function gets the retry count",
  async (sql) => {
    const task = await failed(sql, ["n1"]);
    const first = (await retryTask(sql, task.id)).task;
    const wait = first.runAfter!.getTime() - first.updated!.getTime();
    assert(wait >= 750 && wait <= 1250, `first back-off ${wait} ms`);
    await sql`UPDATE tasks SET status = 'running', result_failures = '{n1}',
    result_status = 'failure', retry = 3 WHERE id = ${task.id}`;
    const seen: number[] = [];
    const fourth = (await retryTask(sql, task.id, {
      backoffMs: (retry) => {
        seen.push(retry);
        return 5_000 * retry;
      },
    })).task;
    assertEquals(seen, [3]);
    const wait4 = fourth.runAfter!.getTime() - fourth.updated!.getTime();
    assert(wait4 >= 14_999 && wait4 <= 15_001, `function back-off ${wait4} ms`);
    await assertRejects(() => retryTask(sql, task.id, { backoffMs: -1 }), ValidationError);
  },
);

dbTest(
  "retryTask(): out of attempts → {retried: false} and a message; nothing to retry → untouched",
  async (sql) => {
    const task = await failed(sql, ["n1"]);
    await sql`UPDATE tasks SET retry = 2 WHERE id = ${task.id}`;
    const out = await retryTask(sql, task.id, { maxAttempts: 2, backoffMs: 0 });
    assertEquals([out.retried, out.task.status, out.task.retry, out.task.result.failures], [
      false,
      "running",
      2,
      ["n1"],
    ]);
    assertEquals((await listResultMessages(sql, task.id)).map((m) => m.message), [OUT_OF_ATTEMPTS]);
    // One attempt left: retried.
    assertEquals((await retryTask(sql, task.id, { maxAttempts: 3, backoffMs: 0 })).retried, true);
    // A success, or no failures: nothing to retry, and no message.
    const ok = await createTask(sql, { action: "deploy_node", status: "running" });
    const done = await recordResult(sql, ok.id, { successes: ["n2"] });
    const none = await retryTask(sql, done.id);
    assertEquals([none.retried, none.task.version], [false, done.version]);
    assertEquals(await listResultMessages(sql, ok.id), []);
  },
);

dbTest("retryTask() uses the maxAttempts the task was claimed with", async (sql) => {
  await createTask(sql, { action: "deploy_node", status: "queued", retry: 1 });
  const task = (await claimNextTask(sql, { maxAttempts: 1 }))!;
  await recordResult(sql, task.id, { failures: ["n1"] });
  assertEquals((await retryTask(sql, task.id)).retried, false);
  assertEquals((await retryTask(sql, task.id, { maxAttempts: 5, backoffMs: 0 })).retried, true);
});

dbTest(
  "createTask(s) take runAfter: a scheduled task is claimed only once due, in due order",
  async (sql) => {
    const soon = new Date(Date.now() + 300);
    const later = await createTask(sql, {
      action: "deploy_node",
      status: "queued",
      runAfter: new Date(Date.now() + 3_600_000),
    });
    const [scheduled, now] = await createTasks(sql, [
      { action: "deploy_node", status: "queued", runAfter: soon },
      { action: "deploy_node", status: "queued" },
    ]);
    assertEquals(later.runAfter?.getTime(), (await getTask(sql, later.id))?.runAfter?.getTime());
    assertEquals(scheduled.runAfter, soon);
    assertEquals((await claimTasks(sql, { limit: 10 })).map((t) => t.id), [now.id]);
    await new Promise((r) => setTimeout(r, 350));
    assertEquals((await claimTasks(sql, { limit: 10 })).map((t) => t.id), [scheduled.id]);
    await assertRejects(
      () => createTask(sql, { action: "x", runAfter: new Date(NaN) }),
      ValidationError,
    );
  },
);

dbTest("a task rescued past its attempts fails instead of going back to the queue", async (sql) => {
  await createTask(sql, { action: "deploy_node", status: "queued" });
  const first = (await claimNextTask(sql, { claimedBy: "w1", maxAttempts: 1 }))!;
  await sql`UPDATE tasks SET heartbeat_at = clock_timestamp() - interval '1 minute'`;
  const [requeued] = await rescueStaleTasks(sql, { staleAfterMs: 10_000 });
  assertEquals([requeued.id, requeued.status, requeued.retry], [first.id, "queued", 1]);
  await claimNextTask(sql, { claimedBy: "w2", maxAttempts: 1 });
  await sql`UPDATE tasks SET heartbeat_at = clock_timestamp() - interval '1 minute'`;
  const [failedTask] = await rescueStaleTasks(sql, { staleAfterMs: 10_000 });
  assertEquals([failedTask.status, failedTask.retry, failedTask.result.status], [
    "complete",
    1,
    "failure",
  ]);
  assertEquals(failedTask.result.errorCount, 1);
  assertEquals(await claimNextTask(sql), null);
});
