/**
 * Drydock's own client against the HTTP face: every call `DrydockClient`
 * makes, shaped as it makes it, and the JSON it gets back, field by field.
 */
import {
  appendResultMessage,
  createTask,
  getTask,
  insertBuildData,
  listTasks,
  updateTask,
} from "../mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { httpTest, jsonOf } from "./_http.ts";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const DESIGN = "deckhand+https://deckhand.example/api/v1.0/revisions/7/rendered-documents";

// deno-lint-ignore no-explicit-any
type Dict = any;

/** Every key of Drydock's Task.to_dict(), in its order. */
const TASK_KEYS = [
  "kind",
  "apiVersion",
  "task_id",
  "action",
  "parent_task_id",
  "design_ref",
  "status",
  "result",
  "node_filter",
  "subtask_id_list",
  "created",
  "created_by",
  "updated",
  "terminated",
  "terminated_by",
  "terminate",
  "retry",
];
const STATUS_KEYS = [
  "kind",
  "apiVersion",
  "metadata",
  "message",
  "reason",
  "status",
  "successes",
  "failures",
  "links",
  "details",
];

httpTest("create_task: 201, Location, the queued task as Task.to_dict()", async (api) => {
  const r = await api.client.createTask(DESIGN, "deploy_nodes", { node_names: ["n1", "n2"] });
  assertEquals(r.status, 201);
  const t: Dict = await jsonOf(r);
  assertEquals(Object.keys(t), TASK_KEYS);
  assertEquals(r.headers.get("location"), `/api/v1.0/tasks/${t.task_id}`);
  assertEquals([t.kind, t.apiVersion, t.action, t.status], [
    "Task",
    "v1",
    "deploy_nodes",
    "queued",
  ]);
  assertEquals(t.design_ref, DESIGN);
  assertEquals(t.node_filter, { node_names: ["n1", "n2"] });
  assertEquals([t.parent_task_id, t.updated, t.terminated, t.terminated_by], [
    null,
    null,
    null,
    null,
  ]);
  assertEquals([t.terminate, t.retry, t.subtask_id_list], [false, 0, []]);
  assert(ISO.test(t.created), t.created);
  assertEquals(Object.keys(t.result), STATUS_KEYS);
  assertEquals(t.result, {
    kind: "Status",
    apiVersion: "v1.0",
    metadata: {},
    message: null,
    reason: null,
    status: "incomplete",
    successes: [],
    failures: [],
    links: [],
    details: { errorCount: 0, messageList: [] },
  });
  const stored = await getTask(api.sql, t.task_id);
  assertEquals(stored?.status, "queued");
  assertEquals((stored?.requestContext as Dict).external_marker, "mk-1");
});

httpTest("get_tasks: every task as a JSON array of Task.to_dict() with messages", async (api) => {
  const a = await createTask(api.sql, { action: "verify_site", designRef: DESIGN });
  const b = await createTask(api.sql, { action: "prepare_site", designRef: DESIGN });
  await appendResultMessage(api.sql, b.id, { message: "boom", error: true, context: "n1" });
  const r = await api.client.getTasks();
  assertEquals(r.status, 200);
  const list: Dict[] = await jsonOf(r) as Dict[];
  assertEquals(list.map((t) => t.task_id), [a.id, b.id]);
  assertEquals(list.map((t) => Object.keys(t)), [TASK_KEYS, TASK_KEYS]);
  assertEquals(list[1].result.details.errorCount, 1);
  const [m] = list[1].result.details.messageList;
  assertEquals(Object.keys(m), ["message", "error", "context_type", "context", "ts", "extra"]);
  assertEquals([m.message, m.error, m.context_type, m.context, m.extra], [
    "boom",
    true,
    null,
    "n1",
    {},
  ]);
  assert(ISO.test(m.ts));
});

httpTest("get_tasks on an empty store is []; limit and after page it", async (api) => {
  assertEquals(await jsonOf(await api.client.getTasks()), []);
  for (let i = 0; i < 5; i++) await createTask(api.sql, { action: "noop" });
  const all = await listTasks(api.sql);
  const page: Dict = await jsonOf(
    await api.fetch(
      `/api/v1.0/tasks?limit=2&after=${all[1].id}`,
      { headers: { "X-Auth-Token": "test-token-0123456789" } },
    ),
  );
  assertEquals(page.map((t: Dict) => t.task_id), [all[2].id, all[3].id]);
});

/** A deploy: root → 2 children → 1 grandchild under the first, with errors and build data. */
async function tree(api: { sql: Parameters<typeof createTask>[0] }) {
  const sql = api.sql;
  const root = await createTask(sql, { action: "deploy_nodes", designRef: DESIGN });
  const c1 = await createTask(sql, { action: "deploy_node", parentTaskId: root.id });
  const c2 = await createTask(sql, { action: "deploy_node", parentTaskId: root.id });
  const g1 = await createTask(sql, { action: "apply_node_networking", parentTaskId: c1.id });
  await appendResultMessage(sql, g1.id, { message: "bond0 down", error: true, context: "n1" });
  await updateTask(sql, g1.id, {
    status: "complete",
    result: { status: "failure", failures: ["n1"] },
  });
  await appendResultMessage(sql, c2.id, { message: "deployed", context: "n2" });
  await insertBuildData(sql, {
    nodeName: "n1",
    taskId: g1.id,
    generator: "lshw",
    dataFormat: "text/plain",
    dataElement: "cpu: 64",
  });
  return { root, c1, c2, g1 };
}

httpTest(
  "get_task: plain, with builddata, subtaskerrors and layers as Drydock answers",
  async (api) => {
    const { root, c1, c2, g1 } = await tree(api);
    const plain: Dict = await jsonOf(await api.client.getTask(root.id));
    assertEquals(Object.keys(plain), TASK_KEYS);
    assertEquals(plain.subtask_id_list, [c1.id, c2.id]);

    const bd: Dict = await jsonOf(await api.client.getTask(g1.id, { builddata: true }));
    assertEquals(bd.build_data.length, 1);
    assertEquals(Object.keys(bd.build_data[0]), [
      "node_name",
      "task_id",
      "collected_date",
      "generator",
      "data_format",
      "data_element",
    ]);
    assertEquals(bd.build_data[0].data_element, "cpu: 64");

    const errs: Dict = await jsonOf(await api.client.getTask(root.id, { subtaskerrors: true }));
    assertEquals(errs.task_id, root.id);
    assertEquals(Object.keys(errs.subtask_errors), [g1.id]);
    assertEquals(errs.subtask_errors[g1.id].task_id, g1.id);
    assertEquals(errs.subtask_errors[g1.id].details.errorCount, 1);
    assertEquals(errs.subtask_errors[g1.id].failures, ["n1"]);

    const two: Dict = await jsonOf(await api.client.getTask(root.id, { layers: 2 }));
    assertEquals(Object.keys(two).sort(), ["init_task_id", root.id, c1.id, c2.id].sort());
    assertEquals(two.init_task_id, root.id);
    assertEquals(Object.keys(two[c1.id]), TASK_KEYS);

    const all: Dict = await jsonOf(
      await api.client.getTask(root.id, { layers: -1, builddata: true, subtaskerrors: true }),
    );
    assertEquals(
      Object.keys(all).sort(),
      ["init_task_id", "subtask_errors", root.id, c1.id, c2.id, g1.id].sort(),
    );
    assertEquals(all[g1.id].build_data[0].generator, "lshw");
    assertEquals(all[c2.id].result.details.messageList[0].message, "deployed");
    assertEquals(Object.keys(all.subtask_errors), [g1.id]);

    const one: Dict = await jsonOf(await api.client.getTask(root.id, { layers: 1 }));
    assertEquals(Object.keys(one).sort(), ["init_task_id", root.id].sort());
  },
);

httpTest("get_task with layers=-1 reads a tree in a bounded number of statements", async (api) => {
  const { root } = await tree(api);
  api.ctx.statements.length = 0;
  const r = await api.client.getTask(root.id, { layers: -1, builddata: true, subtaskerrors: true });
  assertEquals(r.status, 200);
  assertEquals(api.ctx.statements.length, 2);
});

httpTest("get_task of an unknown task: 404 with the error shape", async (api) => {
  const id = crypto.randomUUID();
  const r = await api.client.getTask(id);
  assertEquals(r.status, 404);
  assertEquals(await jsonOf(r), {
    type: "error",
    message: `Task ${id} does not exist`,
    retry: false,
  });
  assertEquals((await api.client.getTask(id, { layers: -1 })).status, 404);
});

httpTest("get_task_build_data and get_node_build_data: BuildData.to_dict() lists", async (api) => {
  const t = await createTask(api.sql, { action: "deploy_node" });
  for (const [generator, data] of [["lshw", "v1"], ["lshw", "v2"], ["lldp", "x"]]) {
    await insertBuildData(api.sql, {
      nodeName: "n1",
      taskId: t.id,
      generator,
      dataFormat: "text/plain",
      dataElement: data,
    });
  }
  const byTask: Dict = await jsonOf(await api.client.getTaskBuildData(t.id));
  assertEquals(byTask.length, 3);
  assertEquals(byTask[0].node_name, "n1");
  assertEquals(byTask[0].task_id, t.id);
  assert(ISO.test(byTask[0].collected_date));
  const latest: Dict = await jsonOf(await api.client.getNodeBuildData("n1", true));
  assertEquals(latest.map((b: Dict) => [b.generator, b.data_element]), [["lldp", "x"], [
    "lshw",
    "v2",
  ]]);
  const every: Dict = await jsonOf(await api.client.getNodeBuildData("n1", false));
  assertEquals(every.length, 3);
  const none = await api.client.getNodeBuildData("n9");
  assertEquals(none.status, 404);
  assertEquals(await jsonOf(none), { type: "error", message: "No build data found", retry: false });
  assertEquals((await api.client.getTaskBuildData(crypto.randomUUID())).status, 404);
});

httpTest(
  "delete_tasks: removes finished trees older than days; days=None means 90",
  async (api) => {
    const old = await createTask(api.sql, { action: "deploy_nodes", status: "complete" });
    const fresh = await createTask(api.sql, { action: "deploy_nodes", status: "complete" });
    await api.sql`UPDATE tasks SET created = now() - interval '100 days' WHERE id = ${old.id}`;
    const r = await api.client.deleteTasks();
    assertEquals(r.status, 200);
    const body: Dict = await jsonOf(r);
    assertEquals([body.days, body.deleted], [90, 1]);
    assertEquals(await getTask(api.sql, old.id), null);
    assert(await getTask(api.sql, fresh.id));
    assertEquals(((await jsonOf(await api.client.deleteTasks(0))) as Dict).deleted, 1);
  },
);
