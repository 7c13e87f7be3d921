/**
 * Bad input to the HTTP face: each a 4xx with Drydock's error shape,
 * nothing written, no stack trace or database text in the answer.
 */
import { createTask } from "../mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { countRows } from "./_helpers.ts";
import { type Api, httpTest, jsonOf, TOKEN } from "./_http.ts";

const TABLES = ["tasks", "result_messages", "build_data", "boot_action_statuses"];
const H = { "X-Auth-Token": TOKEN };
const JSON_H = { ...H, "Content-Type": "application/json" };

/** Expects `status` with the error shape and a message free of internals. */
async function expectError(r: Response, status: number): Promise<string> {
  assertEquals(r.status, status, `${r.url} answered ${r.status}`);
  const body = await jsonOf(r) as { type: string; message: string; retry: boolean };
  assertEquals(Object.keys(body), ["type", "message", "retry"]);
  assertEquals(body.type, "error");
  assert(!/\bat .*\.ts:\d+|postgres|syntax error|SQLSTATE/i.test(body.message), body.message);
  return body.message;
}

async function unchanged(api: Api, fn: () => Promise<void>): Promise<void> {
  const before = await countRows(api.sql, TABLES);
  await fn();
  assertEquals(await countRows(api.sql, TABLES), before);
  assertEquals(api.errors, []);
}

const post = (api: Api, body: BodyInit, headers: HeadersInit = JSON_H) =>
  api.fetch("/api/v1.0/tasks", { method: "POST", headers, body });

httpTest("POST /tasks: malformed JSON, non-objects and a wrong content type", async (api) => {
  await unchanged(api, async () => {
    await expectError(await post(api, "{action: deploy"), 400);
    await expectError(await post(api, "[1,2]"), 400);
    await expectError(await post(api, "null"), 400);
    await expectError(await post(api, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400);
    await expectError(
      await post(api, '{"action":"x"}', { ...H, "Content-Type": "text/plain" }),
      415,
    );
  });
});

httpTest("POST /tasks: each bad field is named", async (api) => {
  await unchanged(api, async () => {
    const cases: [unknown, string[]][] = [
      [{}, ["action: required", "design_ref: required"]],
      [{ action: 7, design_ref: "x" }, ["action: must be a string"]],
      [{ action: "Deploy Nodes!", design_ref: "x" }, ["action: must be a lowercase"]],
      [{ action: "deploy_nodes" }, ["design_ref: required"]],
      [{ action: "deploy_nodes", design_ref: 5 }, ["design_ref: must be"]],
      [{ action: "deploy_nodes", design_ref: "x", node_filter: [1] }, ["node_filter: must be"]],
      [{ action: "deploy_nodes", design_ref: "x\u0000y" }, ["design_ref: must not hold NUL"]],
      [{ action: "deploy_nodes", design_ref: "x", node_filer: {} }, ["node_filer: unknown"]],
      [{ action: "a".repeat(65), design_ref: "x" }, ["action: must be"]],
      [{ action: "x'; DROP TABLE tasks; --", design_ref: "x" }, ["action: must be"]],
    ];
    for (const [body, needles] of cases) {
      const message = await expectError(await post(api, JSON.stringify(body)), 400);
      for (const n of needles) assert(message.includes(n), `${message} lacks ${n}`);
    }
  });
});

httpTest("POST /tasks: a body over the cap is 413, declared or streamed", async (api) => {
  await unchanged(api, async () => {
    const big = JSON.stringify({ action: "deploy_nodes", design_ref: "x".repeat(2048), pad: "y" });
    await expectError(await post(api, big), 413);
    const chunks = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    await expectError(await post(api, chunks), 413);
  });
}, { maxBodyBytes: 1024 });

httpTest("the actions option refuses other actions", async (api) => {
  await unchanged(api, async () => {
    const msg = await expectError(
      await post(api, JSON.stringify({ action: "format_disks", design_ref: "x" })),
      400,
    );
    assert(msg.includes("unsupported action format_disks"));
  });
  assertEquals(
    (await post(api, JSON.stringify({ action: "deploy_nodes", design_ref: "x" }))).status,
    201,
  );
}, { actions: ["deploy_nodes"] });

httpTest("ids that are not UUIDs and injection strings in ids and parameters: 400", async (api) => {
  await createTask(api.sql, { action: "noop" });
  await unchanged(api, async () => {
    for (
      const path of [
        "/api/v1.0/tasks/not-a-uuid",
        "/api/v1.0/tasks/1'%20OR%20'1'='1",
        "/api/v1.0/tasks/00000000-0000-0000-0000-000000000000;DROP%20TABLE%20tasks/builddata",
        "/api/v1.0/tasks/x/events",
        `/api/v1.0/tasks/${crypto.randomUUID()}?layers=1;DROP`,
        `/api/v1.0/tasks/${crypto.randomUUID()}?layers=-2`,
        `/api/v1.0/tasks/${crypto.randomUUID()}?builddata=maybe`,
        "/api/v1.0/tasks?limit=0",
        "/api/v1.0/tasks?limit=10%20OR%201=1",
        "/api/v1.0/tasks?after=1'--",
        "/api/v1.0/tasks?status=queued'--",
        "/api/v1.0/tasks?order=oldest",
        "/api/v1.0/nodes/n1'%20OR%201=1/builddata?latest=sometimes",
        "/api/v1.0/nodes/" + "n".repeat(65) + "/builddata",
        "/api/v1.0/tasks/%E0%A4%A",
      ]
    ) await expectError(await api.fetch(path, { headers: H }), 400);
    for (const days of ["-1", "1;DELETE", "abc", "99999999999"]) {
      await expectError(
        await api.fetch(`/api/v1.0/tasks?days=${days}`, { method: "DELETE", headers: H }),
        400,
      );
    }
  });
});

httpTest("unknown routes 404, wrong methods 405 with Allow, OPTIONS lists methods", async (api) => {
  await unchanged(api, async () => {
    await expectError(await api.fetch("/api/v1.0/nope", { headers: H }), 404);
    await expectError(await api.fetch("/api/v2.0/tasks", { headers: H }), 404);
    await expectError(await api.fetch("/", { headers: H }), 404);
    const r = await api.fetch("/api/v1.0/tasks", { method: "PUT", headers: H });
    assertEquals(r.headers.get("allow"), "GET, POST, DELETE");
    await expectError(r, 405);
    const b = await api.fetch(`/api/v1.0/bootactions/${"0".repeat(26)}`, { headers: H });
    assertEquals(b.headers.get("allow"), "POST");
    await expectError(b, 405);
    const o = await api.fetch("/api/v1.0/tasks/", { method: "OPTIONS" });
    assertEquals([o.status, o.headers.get("allow")], [204, "GET, POST, DELETE"]);
  });
});

httpTest("a database error answers 500 'internal error', reported to onError only", async (api) => {
  await api.sql`ALTER TABLE build_data DROP COLUMN data_format`;
  const r = await api.fetch(`/api/v1.0/nodes/n1/builddata`, { headers: H });
  assertEquals(await expectError(r, 500), "internal error");
  assertEquals(api.errors.length, 1);
  api.errors.length = 0;
});

httpTest("a missing table of ours answers 503 saying to run migrate()", async (api) => {
  await api.sql`DROP TABLE build_data`;
  const r = await api.fetch(`/api/v1.0/nodes/n1/builddata`, { headers: H });
  const message = await expectError(r, 503);
  assert(message.includes('table "build_data" does not exist') && message.includes("migrate"));
  assertEquals(api.errors.length, 1);
  api.errors.length = 0;
});
