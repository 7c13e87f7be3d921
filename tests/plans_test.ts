/**
 * The hot paths stay index-backed: the statements our functions actually
 * send (captured through postgres.js's debug hook) are EXPLAINed on a table
 * of 20,000 tasks, with custom and with generic plans (prepared statements
 * switch to generic plans after five runs).
 */
import {
  appendResultMessage,
  claimNextTask,
  getTask,
  listResultMessages,
  listSubtasks,
  listTasks,
  type Sql,
} from "../mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { dbTest, type SchemaContext } from "./_helpers.ts";

async function fill(sql: Sql): Promise<{ parent: string; task: string }> {
  await sql`
    INSERT INTO tasks (id, action, status, created)
    SELECT gen_random_uuid(), 'deploy_node',
           (ARRAY['complete', 'queued', 'running', 'requested'])[1 + i % 4],
           clock_timestamp() - (20000 - i) * interval '1 second'
    FROM generate_series(1, 20000) AS i`;
  const [{ id: parent }] = await sql`SELECT id FROM tasks ORDER BY created LIMIT 1 OFFSET 100`;
  await sql`
    UPDATE tasks SET parent_task_id = ${parent}
    WHERE id IN (SELECT id FROM tasks WHERE id <> ${parent} ORDER BY created DESC LIMIT 20)`;
  await sql`
    INSERT INTO result_messages (task_id, message, error)
    SELECT id, 'm', random() < 0.1 FROM tasks, generate_series(1, 3)`;
  await sql`ANALYZE tasks`;
  await sql`ANALYZE result_messages`;
  const [{ id: task }] = await sql`SELECT id FROM tasks ORDER BY created LIMIT 1 OFFSET 5000`;
  return { parent, task };
}

/** Every node type of a JSON plan, with the relation it reads. */
// deno-lint-ignore no-explicit-any
function scans(plan: any, out: string[] = []): string[] {
  if (plan["Relation Name"]) out.push(`${plan["Node Type"]} on ${plan["Relation Name"]}`);
  for (const child of plan.Plans ?? []) scans(child, out);
  return out;
}

async function assertIndexBacked(ctx: SchemaContext, what: string): Promise<void> {
  const calls = ctx.calls.splice(0);
  assert(calls.length > 0, `${what}: no statement captured`);
  const explain = ctx.connect({ max: 1 });
  for (const mode of ["auto", "force_generic_plan"]) {
    for (const { query, params } of calls) {
      const plans = await explain.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL plan_cache_mode = ${mode}`);
        // deno-lint-ignore no-explicit-any
        return await tx.unsafe(`EXPLAIN (FORMAT JSON) ${query}`, params as any[]);
      });
      const nodes = scans(plans[0]["QUERY PLAN"][0].Plan);
      const seq = nodes.filter((n) =>
        n.startsWith("Seq Scan") && /on (tasks|result_messages)$/.test(n)
      );
      assertEquals(seq, [], `${what} (${mode}) scans sequentially:\n${query}\n${nodes.join("\n")}`);
    }
  }
}

dbTest(
  "getTask, claimNextTask, listTasks, listSubtasks and message reads are index-backed at 20k tasks",
  async (sql, ctx) => {
    const { parent, task } = await fill(sql);
    ctx.calls.length = 0;

    await getTask(sql, task, { messages: true });
    await assertIndexBacked(ctx, "getTask");

    const claimed = await claimNextTask(sql, { claimedBy: "plan" });
    assert(claimed !== null);
    await claimNextTask(sql, { actions: ["deploy_node"] });
    await assertIndexBacked(ctx, "claimNextTask");

    await listTasks(sql, { limit: 100, after: task });
    await listTasks(sql, { status: "queued", limit: 100 });
    await listTasks(sql, { parentTaskId: parent, messages: true });
    await assertIndexBacked(ctx, "listTasks");

    assertEquals((await listSubtasks(sql, parent, { state: "active" })).length > 0, true);
    await assertIndexBacked(ctx, "listSubtasks");

    await listResultMessages(sql, task, { afterSequence: 1 });
    await appendResultMessage(sql, task, { message: "x" });
    await assertIndexBacked(ctx, "result messages");
  },
);

dbTest(
  "claims read the queue's own index even when statistics say every task is queued",
  async (sql, ctx) => {
    // A queue filled and analysed: the statistics say "all queued", so an
    // index in (created, id) order over every task costs the same as the
    // queue's partial index. A plan made now is cached, and as the queue
    // drains it would walk past every task already claimed.
    await sql`
      INSERT INTO tasks (id, action, status, created)
      SELECT gen_random_uuid(), 'deploy_node', 'queued',
             clock_timestamp() + i * interval '1 microsecond'
      FROM generate_series(1, 20000) AS i`;
    await sql`ANALYZE tasks`;
    ctx.calls.length = 0;
    assert(await claimNextTask(sql, { claimedBy: "plan" }) !== null);
    const { query, params } = ctx.calls[0];
    const explain = ctx.connect({ max: 1 });
    for (const mode of ["auto", "force_generic_plan"]) {
      const plans = await explain.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL plan_cache_mode = ${mode}`);
        // deno-lint-ignore no-explicit-any
        return await tx.unsafe(`EXPLAIN (FORMAT JSON) ${query}`, params as any[]);
      });
      const indexes = JSON.stringify(plans[0]["QUERY PLAN"]).match(/"Index Name":"[a-z_]+"/g);
      assert(
        indexes?.includes('"Index Name":"tasks_queued_idx"'),
        `claim (${mode}) does not read tasks_queued_idx: ${indexes}`,
      );
    }
  },
);
