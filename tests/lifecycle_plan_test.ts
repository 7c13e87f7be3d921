/**
 * Claims stay index-backed with 100,000 tasks scheduled in the future: the
 * claim reads a bounded range of the queue index (plan and buffers). Its
 * latency against an empty schedule is a benchmark (bench/tasks.ts), not a
 * timed test.
 */
import { claimNextTask, type Sql } from "../mod.ts";
import { assert } from "./_assert.ts";
import { dbTest, type SchemaContext } from "./_helpers.ts";

/** `n` queued tasks due now, created after the scheduled ones (the worst case for a (created) key). */
async function queueReady(sql: Sql, n: number): Promise<void> {
  await sql`INSERT INTO tasks (id, action, status)
    SELECT gen_random_uuid(), 'deploy_node', 'queued' FROM generate_series(1, ${n})`;
}

/** 100,000 queued tasks, created an hour ago, not claimable for another hour. */
async function schedule(sql: Sql): Promise<void> {
  await sql`INSERT INTO tasks (id, action, status, created, run_after)
    SELECT gen_random_uuid(), 'deploy_node', 'queued',
           clock_timestamp() - interval '1 hour' + i * interval '1 millisecond',
           clock_timestamp() + interval '1 hour' + i * interval '1 millisecond'
    FROM generate_series(1, 100000) AS i`;
}

/** The claim's plan (auto and generic) reads tasks_queued_idx only, and few buffers. */
async function assertBoundedClaim(ctx: SchemaContext): Promise<void> {
  const { query, params } = ctx.calls.at(-1)!;
  const explain = ctx.connect({ max: 1 });
  for (const mode of ["auto", "force_generic_plan"]) {
    // EXPLAIN ANALYZE runs the claim: throw to roll it back, with the plan.
    const plans = await explain.begin(async (tx) => {
      await tx.unsafe(`SET LOCAL plan_cache_mode = ${mode}`);
      const text = `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${query}`;
      // deno-lint-ignore no-explicit-any
      const rows = await tx.unsafe(text, params as any[]);
      throw { plans: rows };
    }).catch((err) => err.plans ?? Promise.reject(err));
    const plan = JSON.stringify(plans[0]["QUERY PLAN"]);
    assert(
      plan.includes('"Index Name":"tasks_queued_idx"'),
      `${mode}: not on tasks_queued_idx\n${plan}`,
    );
    assert(!/"Node Type":"Seq Scan","[^}]*"Relation Name":"tasks"/.test(plan), `${mode}: seq scan`);
    const hits = plans[0]["QUERY PLAN"][0].Plan["Shared Hit Blocks"] +
      plans[0]["QUERY PLAN"][0].Plan["Shared Read Blocks"];
    assert(hits < 100, `${mode}: the claim read ${hits} buffers: it walked the scheduled tasks`);
  }
}

dbTest(
  "claims with 100,000 future-scheduled tasks read a bounded range of the queue index",
  async (sql, ctx) => {
    await queueReady(sql, 400);
    await schedule(sql);
    await sql`VACUUM ANALYZE tasks`;
    ctx.calls.length = 0;
    await claimNextTask(sql, { claimedBy: "plan" });
    await assertBoundedClaim(ctx);
    // Nothing due: an idle claim must not walk the schedule either.
    await sql`UPDATE tasks SET status = 'complete' WHERE run_after IS NULL`;
    ctx.calls.length = 0;
    assert(await claimNextTask(sql, { claimedBy: "plan" }) === null);
    await assertBoundedClaim(ctx);
  },
);
