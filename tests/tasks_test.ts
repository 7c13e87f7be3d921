import {
  addSubtask,
  appendResultMessage,
  claimNextTask,
  claimTasks,
  ConflictError,
  createTask,
  deleteTasksOlderThan,
  getTask,
  listSubtasks,
  listTasks,
  NotFoundError,
  requestTermination,
  type Task,
  type TaskEvent,
  TaskStatus,
  updateTask,
  watchTasks,
} from "../mod.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

// ---- Drydock's own integration cases (test_postgres_tasks.py), ported

dbTest("createTask() inserts a task that getTask() reads back", async (sql) => {
  const task = await createTask(sql, { action: "deploy_nodes", createdBy: "tester" });
  assertEquals(task.status, TaskStatus.Requested);
  assertEquals(task.result.status, "incomplete");
  assertEquals(task.version, 1);
  const read = await getTask(sql, task.id);
  assertEquals(read, { ...task, messages: [] });
});

dbTest("a task's node filter and request context round-trip as JSON", async (sql) => {
  const nodeFilter = {
    filter_set_type: "union",
    filter_set: [{ filter_type: "intersection", node_names: ["n1", "n2"], node_tags: [] }],
  };
  const requestContext = { user: "admin", roles: ["admin"], request_id: "req-1", n: 1.5 };
  const parent = await createTask(sql, { action: "deploy_nodes" });
  const task = await createTask(sql, {
    action: "prepare_nodes",
    status: "queued",
    parentTaskId: parent.id,
    designRef: "file:///site/design.yaml",
    retry: 2,
    nodeFilter,
    requestContext,
  });
  const read = await getTask(sql, task.id);
  assertEquals(read?.nodeFilter, nodeFilter);
  assertEquals(read?.requestContext, requestContext);
  assertEquals(read, { ...task, messages: [] }, "createTask returns the task as stored");
  requestContext.roles.push("mutated");
  assertEquals(
    task.requestContext,
    { ...requestContext, roles: ["admin"] },
    "a copy, not the input",
  );
});

dbTest("subtasks added to a task are listed, oldest first, in subtaskIds", async (sql) => {
  const parent = await createTask(sql, { action: "deploy_nodes" });
  const a = await createTask(sql, { action: "deploy_node" });
  const b = await createTask(sql, { action: "deploy_node", parentTaskId: parent.id });
  await addSubtask(sql, parent.id, a.id);
  await addSubtask(sql, parent.id, a.id); // idempotent
  const read = await getTask(sql, parent.id);
  assertEquals(read?.subtaskIds, [a.id, b.id]);
  assertEquals((await listSubtasks(sql, parent.id)).map((t) => t.id), [a.id, b.id]);
  assertEquals((await getTask(sql, a.id))?.parentTaskId, parent.id);
});

dbTest("getTask() selects a task by id and gives null for an unknown id", async (sql) => {
  const task = await createTask(sql, { action: "verify_site" });
  assertEquals((await getTask(sql, task.id, { messages: false }))?.id, task.id);
  assertEquals(await getTask(sql, crypto.randomUUID()), null);
});

dbTest("listTasks() lists tasks in creation order and filters them", async (sql) => {
  const a = await createTask(sql, { action: "verify_site", status: "queued" });
  const b = await createTask(sql, { action: "deploy_nodes", status: "queued" });
  const c = await createTask(sql, { action: "deploy_nodes" });
  assertEquals((await listTasks(sql)).map((t) => t.id), [a.id, b.id, c.id]);
  assertEquals((await listTasks(sql, { status: "queued" })).map((t) => t.id), [a.id, b.id]);
  assertEquals((await listTasks(sql, { action: "deploy_nodes" })).map((t) => t.id), [b.id, c.id]);
  assertEquals(
    (await listTasks(sql, { status: ["requested", "running"] })).map((t) => t.id),
    [c.id],
  );
});

dbTest("listTasks() pages with a keyset cursor without gaps or repeats", async (sql) => {
  const ids: string[] = [];
  for (let i = 0; i < 25; i++) ids.push((await createTask(sql, { action: "noop" })).id);
  const seen: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await listTasks(sql, { limit: 10, after });
    if (page.length === 0) break;
    seen.push(...page.map((t) => t.id));
    after = page.at(-1)!.id;
  }
  assertEquals(seen, ids);
});

dbTest("result messages are attached in sequence with the error count", async (sql) => {
  const task = await createTask(sql, { action: "deploy_nodes" });
  await appendResultMessage(sql, task.id, { message: "started" });
  await appendResultMessage(sql, task.id, { message: "n1 failed", error: true, context: "n1" });
  await appendResultMessage(sql, task.id, { message: "n2 ok", context: "n2", contextType: "node" });
  await appendResultMessage(sql, task.id, { message: "n3 failed", error: true, extra: { rc: 2 } });
  const read = await getTask(sql, task.id);
  assertEquals(read?.messages?.map((m) => m.message), [
    "started",
    "n1 failed",
    "n2 ok",
    "n3 failed",
  ]);
  const seqs = read!.messages!.map((m) => m.sequence);
  assertEquals(seqs, [...seqs].sort((x, y) => x - y));
  assertEquals(read?.result.errorCount, 2);
  assertEquals(read?.messages?.[3].extra, { rc: 2 });
  assertEquals(read?.messages?.[2].contextType, "node");
  assert(read!.messages!.every((m) => m.ts instanceof Date && !isNaN(m.ts.getTime())));
});

// ---- the bugs of the Python original

dbTest("listSubtasks() filters active and complete subtasks", async (sql) => {
  const parent = await createTask(sql, { action: "deploy_nodes" });
  const mk = (status: Task["status"]) =>
    createTask(sql, { action: "deploy_node", parentTaskId: parent.id, status });
  const running = await mk("running");
  const queued = await mk("queued");
  const done = await mk("complete");
  const killed = await mk("terminated");
  const ids = async (state: "all" | "active" | "complete") =>
    (await listSubtasks(sql, parent.id, { state })).map((t) => t.id);
  assertEquals(await ids("active"), [running.id, queued.id]);
  assertEquals(await ids("complete"), [done.id, killed.id]);
  assertEquals((await ids("all")).length, 4);
});

dbTest("errors are thrown, not swallowed into false or null", async (sql) => {
  const missing = crypto.randomUUID();
  await assertRejects(() => updateTask(sql, missing, { status: "queued" }), NotFoundError);
  await assertRejects(() => requestTermination(sql, missing), NotFoundError);
  await assertRejects(() => appendResultMessage(sql, missing, { message: "x" }), NotFoundError);
  await assertRejects(
    () => createTask(sql, { action: "deploy_node", parentTaskId: missing }),
    NotFoundError,
  );
  const t = await createTask(sql, { action: "noop" });
  await assertRejects(() => createTask(sql, { id: t.id, action: "noop" }), ConflictError);
  // A broken database is an exception too, not an empty answer.
  await sql`DROP TABLE result_messages`;
  await assertRejects(() => getTask(sql, t.id), Error, "result_messages");
});

dbTest(
  "two writers racing with expectedVersion: one wins, the other gets ConflictError",
  async (sql) => {
    const task = await createTask(sql, { action: "noop" });
    const results = await Promise.allSettled([
      updateTask(sql, task.id, { retry: 1 }, { expectedVersion: task.version }),
      updateTask(sql, task.id, { retry: 2 }, { expectedVersion: task.version }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assertEquals(won.length, 1);
    assertEquals(lost.length, 1);
    assert((lost[0] as PromiseRejectedResult).reason instanceof ConflictError);
    const final = await getTask(sql, task.id);
    assertEquals(final?.version, 2);
    assertEquals(final?.retry, (won[0] as PromiseFulfilledResult<Task>).value.retry);
  },
);

// ---- updates, termination, claims, deletion, watching

dbTest("updateTask() replaces the given result fields and keeps the others", async (sql) => {
  const task = await createTask(sql, { action: "deploy_nodes", designRef: "file:///a.yaml" });
  const first = await updateTask(sql, task.id, {
    status: "running",
    result: { status: "partial_success", message: "half", successes: ["n1"], failures: ["n2"] },
  });
  assertEquals(first.version, 2);
  assert(first.updated instanceof Date);
  const second = await updateTask(sql, task.id, { result: { reason: "n2 timed out" } });
  assertEquals(second.result, {
    status: "partial_success",
    message: "half",
    reason: "n2 timed out",
    successes: ["n1"],
    failures: ["n2"],
    links: [],
    errorCount: 0,
  });
  assertEquals(second.status, "running");
  assertEquals(second.designRef, "file:///a.yaml");
  const third = await updateTask(sql, task.id, { designRef: null, result: { message: null } });
  assertEquals([third.designRef, third.result.message, third.version], [null, null, 4]);
});

dbTest("requestTermination() sets terminate, terminated and terminatedBy at once", async (sql) => {
  const task = await createTask(sql, { action: "deploy_nodes", status: "running" });
  const t = await requestTermination(sql, task.id, { by: "operator" });
  assertEquals([t.terminate, t.terminatedBy, t.status], [true, "operator", "running"]);
  assert(t.terminated instanceof Date);
  const again = await requestTermination(sql, task.id, { by: "someone-else" });
  assertEquals(again.terminated, t.terminated);
  assertEquals(again.terminatedBy, "operator");
});

dbTest("claimNextTask() takes the oldest queued task of the given actions", async (sql) => {
  const a = await createTask(sql, { action: "deploy_node", status: "queued" });
  await createTask(sql, { action: "deploy_node" }); // requested: not claimable
  const c = await createTask(sql, { action: "verify_site", status: "queued" });
  const d = await createTask(sql, { action: "deploy_node", status: "queued" });
  const first = await claimNextTask(sql, { actions: ["verify_site"], claimedBy: "w1" });
  assertEquals([first?.id, first?.status, first?.claimedBy], [c.id, "running", "w1"]);
  assertEquals((await claimNextTask(sql))?.id, a.id);
  const batch = await claimTasks(sql, { limit: 5 });
  assertEquals(batch.map((t) => t.id), [d.id]);
  assertEquals(await claimNextTask(sql), null);
});

dbTest(
  "8 workers on their own connections claim 240 tasks, each exactly once",
  async (sql, ctx) => {
    const inputs = Array.from({ length: 240 }, () => ({ action: "deploy_node", status: "queued" }));
    for (const input of inputs) {
      await createTask(
        sql,
        input as { action: string; status: "queued" },
      );
    }
    const claimed: string[][] = [];
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const own = ctx.connect({ max: 1 });
      const mine: string[] = [];
      claimed.push(mine);
      for (;;) {
        const task = await claimNextTask(own, { claimedBy: `w${w}` });
        if (!task) break;
        mine.push(task.id);
      }
    }));
    const all = claimed.flat();
    assertEquals(all.length, 240);
    assertEquals(new Set(all).size, 240);
    assert(claimed.filter((c) => c.length > 0).length > 1, "work was spread over workers");
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running'`;
    assertEquals(n, 240);
  },
);

dbTest(
  "deleteTasksOlderThan() removes old finished trees with their subtasks and messages",
  async (sql) => {
    const old = await createTask(sql, { action: "deploy_nodes", status: "complete" });
    const oldChild = await createTask(sql, {
      action: "deploy_node",
      status: "terminated",
      parentTaskId: old.id,
    });
    await appendResultMessage(sql, oldChild.id, { message: "x" });
    await sql`UPDATE tasks SET created = created - interval '10 days' WHERE id = ${old.id}`;
    const recent = await createTask(sql, { action: "deploy_nodes", status: "complete" });
    const cutoff = new Date(Date.now() - 86_400_000);
    assertEquals(await deleteTasksOlderThan(sql, cutoff), 2);
    assertEquals(await getTask(sql, old.id), null);
    assertEquals(await getTask(sql, oldChild.id), null);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM result_messages`;
    assertEquals(n, 0);
    assertEquals((await getTask(sql, recent.id))?.id, recent.id);
    assertEquals(await deleteTasksOlderThan(sql, cutoff), 0);
  },
);

dbTest("addSubtask() refuses cycles and re-parenting", async (sql) => {
  const a = await createTask(sql, { action: "noop" });
  const b = await createTask(sql, { action: "noop", parentTaskId: a.id });
  const other = await createTask(sql, { action: "noop" });
  await assertRejects(() => addSubtask(sql, b.id, a.id), ConflictError, "cycle");
  await assertRejects(() => addSubtask(sql, other.id, b.id), ConflictError);
  await assertRejects(() => addSubtask(sql, a.id, crypto.randomUUID()), NotFoundError);
  assertEquals((await getTask(sql, b.id))?.parentTaskId, a.id);
});

dbTest(
  "watchTasks() reports new tasks and every change of status, once each, in order",
  async (sql) => {
    const events: TaskEvent[] = [];
    let wake = () => {};
    const watch = await watchTasks(sql, (e) => {
      events.push(e);
      wake();
    });
    try {
      const t = await createTask(sql, { action: "deploy_node", status: "queued" });
      await claimNextTask(sql);
      await updateTask(sql, t.id, { retry: 3 }); // no status change: no event
      await updateTask(sql, t.id, { status: "complete" });
      const deadline = Date.now() + 5000;
      while (events.length < 3 && Date.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          const timer = setTimeout(r, 100);
          const prev = wake;
          wake = () => {
            clearTimeout(timer);
            prev();
          };
        });
      }
      // Every change, in order, with no event for a write that kept the status.
      assertEquals(events.map((e) => [e.taskId, e.kind, e.status, e.action, e.parentTaskId]), [
        [t.id, "created", "queued", "deploy_node", null],
        [t.id, "status", "running", "deploy_node", null],
        [t.id, "status", "complete", "deploy_node", null],
      ]);
      assert(events.every((e) => e.at instanceof Date && typeof e.cursor === "string"));
    } finally {
      await watch.unlisten();
    }
  },
);
