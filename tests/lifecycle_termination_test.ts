/**
 * Cascading termination: a tree of depth 3 with queued, running and
 * complete tasks; terminationSignal for the running ones.
 */
import {
  claimNextTask,
  createTask,
  getTask,
  NotFoundError,
  requestTermination,
  StateError,
  updateTask,
} from "../mod.ts";
import { terminationSignal } from "../src/lifecycle.ts";
import { settlesWithin } from "../src/_async.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { createSubtask, dbTest } from "./_helpers.ts";

/** Resolves once `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });

dbTest(
  "requestTermination() on a tree of depth 3: queued ones terminated and never claimed, running ones signalled, complete ones untouched",
  async (sql) => {
    const root = await createTask(sql, { action: "deploy_site", status: "running" });
    const mid = await createSubtask(sql, root.id, "deploy_nodes", "running");
    const running = await createSubtask(sql, mid.id, "deploy_node", "queued");
    assertEquals((await claimNextTask(sql, { claimedBy: "w1" }))?.id, running.id);
    const queued = await createSubtask(sql, mid.id, "deploy_node", "queued");
    const requested = await createTask(sql, { action: "deploy_node", parentTaskId: mid.id });
    const done = await createSubtask(sql, mid.id, "deploy_node", "complete");
    const unrelated = await createTask(sql, { action: "deploy_node", status: "queued" });
    const signals = await Promise.all([running, mid].map((t) => terminationSignal(sql, t.id)));
    try {
      assert(signals.every((s) => !s.signal.aborted));
      const t = await requestTermination(sql, root.id, { by: "operator" });
      assertEquals([t.terminate, t.terminatedBy, t.status], [true, "operator", "running"]);
      for (const s of signals) {
        assert(await settlesWithin(aborted(s.signal), 1000), "not signalled within 1 s");
        assert(s.signal.reason instanceof StateError);
        assertEquals((s.signal.reason as StateError).code, "termination_requested");
      }
      const now = async (id: string) => (await getTask(sql, id, { messages: false }))!;
      assertEquals([(await now(queued.id)).status, (await now(requested.id)).status], [
        "terminated",
        "terminated",
      ]);
      const r = await now(running.id);
      assertEquals([r.status, r.terminate, r.terminatedBy], ["running", true, "operator"]);
      const d = await now(done.id);
      assertEquals([d.status, d.terminate, d.version], ["complete", false, done.version]);
      // Only the unrelated task is claimable, and never a terminated one.
      assertEquals((await claimNextTask(sql))?.id, unrelated.id);
      await updateTask(sql, queued.id, { status: "queued" }); // even if queued again by hand
      assertEquals(await claimNextTask(sql), null);
      const events = await sql`SELECT task_id, kind FROM task_events
        WHERE kind = 'termination_requested' ORDER BY id`;
      assertEquals(
        new Set(events.map((e) => e.task_id)),
        new Set([root.id, mid.id, running.id, queued.id, requested.id]),
      );
    } finally {
      await Promise.all(signals.map((s) => s.close()));
    }
  },
);

dbTest("requestTermination({cascade: false}) marks the task alone", async (sql) => {
  const parent = await createTask(sql, { action: "deploy_nodes", status: "queued" });
  const child = await createSubtask(sql, parent.id, "deploy_node", "queued");
  const t = await requestTermination(sql, parent.id, { cascade: false });
  assertEquals([t.status, t.terminate], ["terminated", true]);
  assertEquals((await getTask(sql, child.id))?.terminate, false);
});

dbTest(
  "terminationSignal() aborts at once when termination was already requested, also of an ancestor",
  async (sql) => {
    const parent = await createTask(sql, { action: "deploy_nodes", status: "running" });
    const child = await createSubtask(sql, parent.id, "deploy_node", "running");
    await requestTermination(sql, parent.id, { cascade: false });
    const s = await terminationSignal(sql, child.id);
    try {
      assert(s.signal.aborted, "the ancestor's request was not seen");
    } finally {
      await s.close();
    }
    await assertRejects(() => terminationSignal(sql, crypto.randomUUID()), NotFoundError);
  },
);

dbTest(
  "terminationSignal() aborts within 1 s when an ancestor's termination is requested alone",
  async (sql) => {
    const parent = await createTask(sql, { action: "deploy_nodes", status: "running" });
    const child = await createSubtask(sql, parent.id, "deploy_node", "running");
    const s = await terminationSignal(sql, child.id);
    try {
      await requestTermination(sql, parent.id, { cascade: false });
      assert(await settlesWithin(aborted(s.signal), 1000), "not signalled within 1 s");
    } finally {
      await s.close();
    }
  },
);
