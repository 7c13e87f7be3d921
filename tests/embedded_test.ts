import {
  appendResultMessage,
  claimNextTask,
  createTask,
  getTask,
  migrate,
  type TaskEvent,
  updateTask,
  watchTasks,
} from "../mod.ts";
import { openEmbedded } from "../src/embedded.ts";
import { assertEquals } from "./_assert.ts";

Deno.test("openEmbedded() runs a create, claim, append and complete round trip", async () => {
  const db = await openEmbedded();
  try {
    const { applied } = await migrate(db.sql);
    assertEquals(applied.length > 0, true);
    const task = await createTask(db.sql, { action: "deploy_node", status: "queued" });
    const claimed = await claimNextTask(db.sql, { claimedBy: "embedded" });
    assertEquals([claimed?.id, claimed?.status], [task.id, "running"]);
    await appendResultMessage(db.sql, task.id, { message: "booted", error: false });
    await appendResultMessage(db.sql, task.id, { message: "ipmi flaky", error: true });
    await updateTask(db.sql, task.id, { status: "complete", result: { status: "success" } });
    const read = await getTask(db.sql, task.id);
    assertEquals(read?.messages?.map((m) => m.message), ["booted", "ipmi flaky"]);
    assertEquals([read?.status, read?.result.status, read?.result.errorCount], [
      "complete",
      "success",
      1,
    ]);
  } finally {
    await db.close();
  }
});

Deno.test("watchTasks() delivers events on the embedded database", async () => {
  const db = await openEmbedded();
  const events: TaskEvent[] = [];
  try {
    await migrate(db.sql);
    const watch = await watchTasks(db.sql, (e) => events.push(e));
    try {
      const task = await createTask(db.sql, { action: "deploy_node", status: "queued" });
      await claimNextTask(db.sql);
      for (let i = 0; i < 50 && events.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assertEquals(events.map((e) => [e.taskId, e.status]), [
        [task.id, "queued"],
        [task.id, "running"],
      ]);
    } finally {
      await watch.unlisten();
    }
  } finally {
    await db.close();
  }
});

Deno.test("openEmbedded({dataDir}) keeps its data across close and reopen", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "statemgmt-embedded-" });
  try {
    const first = await openEmbedded({ dataDir });
    let id: string;
    try {
      await migrate(first.sql);
      id = (await createTask(first.sql, { action: "deploy_node" })).id;
    } finally {
      await first.close();
    }
    const second = await openEmbedded({ dataDir });
    try {
      assertEquals((await migrate(second.sql)).applied, []);
      assertEquals((await getTask(second.sql, id))?.action, "deploy_node");
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
