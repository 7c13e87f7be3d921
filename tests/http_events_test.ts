/**
 * The events stream: Server-Sent Events from the durable log, resumable
 * with `Last-Event-ID`, so a client that reconnects misses nothing and
 * sees nothing twice.
 */
import { createTask, updateTask } from "../mod.ts";
import { readTaskEvents } from "../src/events.ts";
import { assert, assertEquals } from "./_assert.ts";
import { type Api, httpTest, TOKEN } from "./_http.ts";

interface Frame {
  id: string | null;
  event: string;
  data: string;
}

/** Reads SSE frames from a response body, one at a time. */
function frames(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  return {
    async next(timeoutMs = 5000): Promise<Frame> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const at = buf.indexOf("\n\n");
        if (at >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const f: Frame = { id: null, event: "message", data: "" };
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const [k, ...rest] = line.split(":");
            const v = rest.join(":").replace(/^ /, "");
            if (k === "id") f.id = v;
            else if (k === "event") f.event = v;
            else if (k === "data") f.data += v;
          }
          if (f.id !== null || f.data !== "") return f;
          continue;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error("no frame in time")), deadline - Date.now());
          }),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error("stream ended");
        buf += chunk.value;
      }
    },
    close: () => reader.cancel(),
  };
}

async function open(api: Api, path: string, lastEventId?: string) {
  const headers: Record<string, string> = { "X-Auth-Token": TOKEN };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const r = await api.fetch(path, { headers });
  assertEquals(r.status, 200);
  assertEquals(r.headers.get("content-type"), "text/event-stream");
  const f = frames(r.body!);
  const ready = await f.next();
  assertEquals(ready.event, "ready");
  return { ...f, ready };
}

httpTest(
  "a client that reconnects with Last-Event-ID gets every event exactly once",
  async (api) => {
    const root = await createTask(api.sql, { action: "deploy_nodes", status: "queued" });
    const first = await open(api, `/api/v1.0/tasks/${root.id}/events`);
    const got: Frame[] = [];
    try {
      const kids = [];
      for (let i = 0; i < 3; i++) {
        kids.push(await createTask(api.sql, { action: "deploy_node", parentTaskId: root.id }));
      }
      await createTask(api.sql, { action: "unrelated" });
      for (let i = 0; i < 3; i++) got.push(await first.next());
    } finally {
      await first.close();
    }
    // While disconnected: more of the tree changes.
    const more = await createTask(api.sql, { action: "deploy_node", parentTaskId: root.id });
    await updateTask(api.sql, more.id, { status: "running" });
    await updateTask(api.sql, root.id, { status: "running" });
    const page = await readTaskEvents(api.sql, { after: first.ready.id!, limit: 10_000 });
    const tree = new Set([
      root.id,
      ...(await api.sql`
    SELECT id FROM tasks WHERE parent_task_id = ${root.id}`).map((r) => r.id),
    ]);
    // Cursors name read windows, so events are compared by what they say.
    const expected = page.events.filter((e) => tree.has(e.taskId)).map((e) => ({
      task_id: e.taskId,
      parent_task_id: e.parentTaskId,
      action: e.action,
      status: e.status,
      kind: e.kind,
      at: e.at.toISOString(),
    }));
    const second = await open(api, `/api/v1.0/tasks/${root.id}/events`, got.at(-1)!.id!);
    try {
      while (got.length < expected.length) got.push(await second.next());
    } finally {
      await second.close();
    }
    assertEquals(got.map((f) => f.event), expected.map(() => "task"));
    assertEquals(got.map((f) => JSON.parse(f.data)), expected);
    assertEquals(expected.length, 6);
    const last = JSON.parse(got.at(-1)!.data);
    assertEquals([last.task_id, last.status, last.kind], [root.id, "running", "status"]);
    assert(new Set(got.map((f) => f.data)).size === got.length, "no event twice");
  },
);

httpTest("GET /events streams every task; ready's id resumes when no event came", async (api) => {
  const s = await open(api, "/api/v1.0/events");
  const cursor = s.ready.id!;
  await s.close();
  const t = await createTask(api.sql, { action: "noop", status: "queued" });
  const again = await open(api, "/api/v1.0/events", cursor);
  try {
    const f = await again.next();
    const data = JSON.parse(f.data);
    assertEquals(Object.keys(data), [
      "task_id",
      "parent_task_id",
      "action",
      "status",
      "kind",
      "at",
    ]);
    assertEquals([data.task_id, data.kind, data.status], [t.id, "created", "queued"]);
  } finally {
    await again.close();
  }
});

httpTest("events of an unknown task 404; a foreign cursor 400", async (api) => {
  const h = { "X-Auth-Token": TOKEN };
  assertEquals(
    (await api.fetch(`/api/v1.0/tasks/${crypto.randomUUID()}/events`, { headers: h })).status,
    404,
  );
  const r = await api.fetch("/api/v1.0/events", { headers: { ...h, "Last-Event-ID": "v1.nope" } });
  assertEquals(r.status, 400);
  await r.body?.cancel();
});
