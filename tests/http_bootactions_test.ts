/**
 * `POST /bootactions/{action_id}`: the report of an unmanned node, proved
 * by `X-Bootaction-Key`; the final status is a compare-and-set.
 */
import {
  createTask,
  getBootAction,
  insertBootAction,
  listResultMessages,
  newBootActionId,
} from "../mod.ts";
import type { Sql } from "../src/db.ts";
import { assert, assertEquals } from "./_assert.ts";
import { countRows } from "./_helpers.ts";
import { type Api, httpTest, jsonOf } from "./_http.ts";

const hex = (k: Uint8Array) => Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("");

async function action(sql: Sql) {
  const task = await createTask(sql, { action: "deploy_node", status: "running" });
  const key = crypto.getRandomValues(new Uint8Array(32));
  const a = await insertBootAction(sql, {
    actionId: newBootActionId(),
    nodeName: "n1",
    actionName: "hello_world",
    taskId: task.id,
    identityKey: key,
  });
  return { ...a, key: hex(key) };
}

function report(api: Api, id: string, key: string | null, body: unknown) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (key !== null) headers["X-Bootaction-Key"] = key;
  return api.fetch(`/api/v1.0/bootactions/${id}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
}

httpTest("no key 401, wrong key 403, right key 200, second final report 409", async (api) => {
  const a = await action(api.sql);
  const body = {
    status: "Success",
    details: [{ message: "hello", error: false, unit: "x.service" }],
  };
  const none = await report(api, a.actionId, null, body);
  assertEquals(none.status, 401);
  assertEquals((await jsonOf(none) as { type: string }).type, "error");
  const wrong = "00".repeat(32);
  for (const key of [wrong, "zz", a.key.slice(0, 62), a.key + "00"]) {
    const r = await report(api, a.actionId, key, body);
    assertEquals(r.status, 403);
    const text = await r.text();
    assert(!text.includes(key) && !text.includes(a.key), "the key is never echoed");
  }
  assertEquals(await listResultMessages(api.sql, a.taskId), []);
  const ok = await report(api, a.actionId, a.key.toUpperCase(), body);
  assertEquals(ok.status, 200);
  const answer = await jsonOf(ok);
  assertEquals(answer, {
    action_id: a.actionId,
    node_name: "n1",
    action_name: "hello_world",
    task_id: a.taskId,
    action_status: "success",
  });
  const [m] = await listResultMessages(api.sql, a.taskId);
  assertEquals([m.message, m.error, m.contextType, m.context], [
    "hello",
    false,
    "bootaction",
    a.actionId,
  ]);
  assertEquals(m.extra, { unit: "x.service" });
  const again = await report(api, a.actionId, a.key, {
    status: "failure",
    details: [{ message: "late", error: true }],
  });
  assertEquals(again.status, 409);
  assertEquals((await getBootAction(api.sql, a.actionId))?.status, "success");
  assertEquals(
    (await listResultMessages(api.sql, a.taskId)).length,
    1,
    "a refused report writes nothing",
  );
});

httpTest("details without a status are appended and the action stays open", async (api) => {
  const a = await action(api.sql);
  const r = await report(api, a.actionId, a.key, {
    details: [{ message: "step 1", error: false }],
  });
  assertEquals(r.status, 200);
  assertEquals((await getBootAction(api.sql, a.actionId))?.status, "incomplete");
  assertEquals((await report(api, a.actionId, a.key, { status: "failure" })).status, 200);
  assertEquals((await report(api, a.actionId, a.key, { details: [] })).status, 409);
});

httpTest("20 concurrent final reports: exactly one 200, the rest 409", async (api) => {
  const a = await action(api.sql);
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      report(api, a.actionId, a.key, {
        status: i % 2 ? "success" : "failure",
        details: [{ message: `report ${i}`, error: false }],
      }).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      })),
  );
  assertEquals(results.filter((s) => s === 200).length, 1);
  assertEquals(results.filter((s) => s === 409).length, 19);
  assertEquals((await listResultMessages(api.sql, a.taskId)).length, 1);
});

httpTest("bad bodies are 400 and write nothing; an unknown action is 404", async (api) => {
  const a = await action(api.sql);
  const before = await countRows(api.sql, ["result_messages"]);
  for (
    const body of [
      { status: "done" },
      { status: 1 },
      { details: "x" },
      { details: [{ message: "no error flag" }] },
      { details: [{ message: 5, error: false }] },
      { details: [{ error: true }] },
      { details: [{ message: "nul\u0000", error: true }] },
      { other: true },
      [],
    ]
  ) {
    const r = await report(api, a.actionId, a.key, body);
    assertEquals(r.status, 400, JSON.stringify(body));
    assertEquals((await jsonOf(r) as { type: string }).type, "error");
  }
  assertEquals(await countRows(api.sql, ["result_messages"]), before);
  assertEquals((await getBootAction(api.sql, a.actionId))?.status, "incomplete");
  assertEquals((await report(api, newBootActionId(), a.key, {})).status, 404);
  assertEquals((await report(api, "not-a-ulid'--", a.key, {})).status, 400);
});
