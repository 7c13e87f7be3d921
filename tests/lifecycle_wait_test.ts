/**
 * waitForTask and waitForSubtasks: resolve soon after the last finish,
 * reject on time-out and on abort, leak nothing (sanitizers on).
 */
import { createTask, NotFoundError, StateError, updateTask } from "../mod.ts";
import { waitForSubtasks, waitForTask } from "../src/lifecycle.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

dbTest("waitForSubtasks() resolves within 1 s of the last subtask finishing", async (sql) => {
  const parent = await createTask(sql, { action: "deploy_nodes", status: "running" });
  const subs = [];
  for (const status of ["queued", "running", "queued"] as const) {
    subs.push(
      await createTask(sql, { action: "deploy_node", status, parentTaskId: parent.id }),
    );
  }
  const other = await createTask(sql, {
    action: "prepare_node",
    status: "running",
    parentTaskId: parent.id,
  });
  let finishedAt = 0;
  const waited = waitForSubtasks(sql, parent.id, { action: "deploy_node", timeoutMs: 10_000 })
    .then((tasks) => ({ tasks, after: performance.now() - finishedAt }));
  for (const [i, s] of subs.entries()) {
    await new Promise((r) => setTimeout(r, 100));
    await updateTask(sql, s.id, { status: i === 1 ? "terminated" : "complete" });
  }
  finishedAt = performance.now();
  const { tasks, after } = await waited;
  assert(after < 1000, `resolved ${after.toFixed(0)} ms after the last finish`);
  assertEquals(tasks.map((t) => [t.id, t.status]), [
    [subs[0].id, "complete"],
    [subs[1].id, "terminated"],
    [subs[2].id, "complete"],
  ]);
  // Without the action filter, the prepare_node subtask is still active.
  await assertRejects(
    () => waitForSubtasks(sql, parent.id, { timeoutMs: 300 }),
    StateError,
    "did not finish",
  );
  await updateTask(sql, other.id, { status: "complete" });
  assertEquals((await waitForSubtasks(sql, parent.id)).length, 4);
});

dbTest(
  "waitForSubtasks() rejects on time-out with code timeout, and on abort with the reason",
  async (sql) => {
    const parent = await createTask(sql, { action: "deploy_nodes", status: "running" });
    await createTask(sql, { action: "deploy_node", status: "running", parentTaskId: parent.id });
    const timedOut = await assertRejects(
      () => waitForSubtasks(sql, parent.id, { timeoutMs: 200 }),
      StateError,
    );
    assertEquals(timedOut.code, "timeout");
    const control = new AbortController();
    const reason = new Error("stop waiting");
    setTimeout(() => control.abort(reason), 100);
    let thrown: unknown;
    await waitForSubtasks(sql, parent.id, { signal: control.signal }).catch((e) => thrown = e);
    assertEquals(thrown, reason);
    // Aborted before the call: rejects at once.
    await waitForSubtasks(sql, parent.id, { signal: control.signal }).catch((e) => thrown = e);
    assertEquals(thrown, reason);
    await assertRejects(() => waitForSubtasks(sql, crypto.randomUUID()), NotFoundError);
  },
);

dbTest("waitForTask() resolves once the task is complete or terminated", async (sql) => {
  const task = await createTask(sql, { action: "deploy_node", status: "running" });
  const waited = waitForTask(sql, task.id, { timeoutMs: 5_000 });
  await new Promise((r) => setTimeout(r, 100));
  await updateTask(sql, task.id, { status: "complete", result: { status: "success" } });
  const done = await waited;
  assertEquals([done.status, done.result.status], ["complete", "success"]);
  assertEquals((await waitForTask(sql, task.id)).id, task.id); // already finished: at once
  const other = await createTask(sql, { action: "deploy_node", status: "queued" });
  const timedOut = await assertRejects(
    () => waitForTask(sql, other.id, { timeoutMs: 150 }),
    StateError,
  );
  assertEquals(timedOut.code, "timeout");
  await assertRejects(() => waitForTask(sql, crypto.randomUUID()), NotFoundError);
});
