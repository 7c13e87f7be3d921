/**
 * Tasks and result messages against raw postgres.js doing the equivalent
 * statements, in the same run, on the same server.
 */
import { appendResultMessage, claimNextTask, createTask, getTask, listTasks } from "../mod.ts";
import type { Sql } from "../src/db.ts";
import {
  type BenchConfig,
  type BenchRow,
  type BenchSchema,
  benchSchema,
  compare,
} from "./_harness.ts";

async function fill(sql: Sql, n: number, status = "queued"): Promise<void> {
  await sql`TRUNCATE tasks CASCADE`;
  await sql`
    INSERT INTO tasks (id, action, status, created)
    SELECT gen_random_uuid(), 'deploy_node', ${status},
           clock_timestamp() + i * interval '1 microsecond'
    FROM generate_series(1, ${n}) AS i`;
  await sql`ANALYZE tasks`;
}

export async function benchTasks(cfg: BenchConfig, db: BenchSchema): Promise<BenchRow[]> {
  const { sql } = db;
  const rows: BenchRow[] = [];

  rows.push(
    await compare(
      cfg,
      "createTask",
      () => createTask(sql, { action: "deploy_node", status: "queued", createdBy: "bench" }),
      () =>
        sql`INSERT INTO tasks (id, action, status, created_by)
            VALUES (${crypto.randomUUID()}, 'deploy_node', 'queued', 'bench') RETURNING *`,
    ),
  );

  // One task with 100 messages and 3 subtasks.
  await sql`TRUNCATE tasks CASCADE`;
  const task = await createTask(sql, { action: "deploy_nodes" });
  for (let i = 0; i < 3; i++) {
    await createTask(sql, { action: "deploy_node", parentTaskId: task.id });
  }
  await sql`
    INSERT INTO result_messages (task_id, message, error, context)
    SELECT ${task.id}, 'message ' || i, i % 10 = 0, 'node' || (i % 7) FROM generate_series(1, 100) i`;
  rows.push(
    await compare(
      cfg,
      "getTask (100 messages)",
      () => getTask(sql, task.id, { messages: true }),
      async () => {
        // The hand-written equivalent: the task with its subtask ids, then its messages.
        const [t] = await sql`
          SELECT t.*, ARRAY(SELECT id FROM tasks c WHERE c.parent_task_id = t.id) AS subtask_ids
          FROM tasks t WHERE id = ${task.id}`;
        const messages = await sql`
          SELECT * FROM result_messages WHERE task_id = ${task.id} ORDER BY sequence`;
        return { ...t, messages, errorCount: messages.filter((m) => m.error).length };
      },
    ),
  );

  rows.push(
    await compare(
      cfg,
      "appendResultMessage",
      () => appendResultMessage(sql, task.id, { message: "deployed", context: "node01" }),
      () =>
        sql`INSERT INTO result_messages (task_id, message, error, context)
            VALUES (${task.id}, 'deployed', false, 'node01') RETURNING *`,
    ),
  );

  await fill(sql, 1000, "complete");
  rows.push(
    await compare(
      cfg,
      "listTasks (100)",
      () => listTasks(sql, { limit: 100 }),
      // Hand-written SQL returning the same records: rows, error counts, subtask ids.
      () =>
        sql`
        SELECT t.*,
          (SELECT count(*) FROM result_messages e WHERE e.task_id = t.id AND e.error) AS errors,
          ARRAY(SELECT c.id FROM tasks c WHERE c.parent_task_id = t.id ORDER BY c.created, c.id)
            AS subtask_ids
        FROM tasks t ORDER BY t.created, t.id LIMIT 100`,
    ),
  );

  const workers = Array.from({ length: 8 }, () => db.pool(1));
  const queued = cfg.quick ? 3_000 : 15_000;
  rows.push(
    await compare(
      cfg,
      "claimNextTask (8 workers)",
      (w) => claimNextTask(workers[w], { claimedBy: `w${w}` }),
      (w) =>
        workers[w]`
          UPDATE tasks SET status = 'running', claimed_by = ${`w${w}`},
                 heartbeat_at = clock_timestamp(), updated = clock_timestamp(),
                 version = version + 1
          WHERE id = (SELECT id FROM tasks
                      WHERE status = 'queued' AND NOT terminate
                        AND coalesce(run_after, created) <= statement_timestamp()
                      ORDER BY coalesce(run_after, created), id
                      LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING *,
            (SELECT count(*) FROM result_messages e WHERE e.task_id = tasks.id AND e.error),
            ARRAY(SELECT c.id FROM tasks c WHERE c.parent_task_id = tasks.id
                  ORDER BY c.created, c.id) AS subtask_ids`,
      { workers: 8, before: () => fill(sql, queued) },
    ),
  );
  rows.push(await claimWithSchedule(cfg, db));
  return rows;
}

/** `n` tasks due now, replacing the ones due now before (scheduled ones stay). */
async function refillDue(sql: Sql, n: number): Promise<void> {
  await sql`DELETE FROM tasks WHERE run_after IS NULL`;
  await sql`
    INSERT INTO tasks (id, action, status)
    SELECT gen_random_uuid(), 'deploy_node', 'queued' FROM generate_series(1, ${n})`;
}

/**
 * Claims stay flat however many tasks wait for a later `runAfter`: the same
 * claim with 100,000 scheduled an hour ahead (created an hour ago, the worst
 * case for a key on `created`) against a schema with none. Target: within
 * 1.5× (ratio ≥ 0.67).
 */
async function claimWithSchedule(cfg: BenchConfig, db: BenchSchema): Promise<BenchRow> {
  const empty = await benchSchema(2);
  try {
    const n = cfg.quick ? 2_000 : 10_000;
    await db.sql`TRUNCATE tasks CASCADE`;
    await db.sql`
      INSERT INTO tasks (id, action, status, created, run_after)
      SELECT gen_random_uuid(), 'deploy_node', 'queued',
             clock_timestamp() - interval '1 hour' + i * interval '1 millisecond',
             clock_timestamp() + interval '1 hour' + i * interval '1 millisecond'
      FROM generate_series(1, 100000) AS i`;
    const refill = async () => {
      await refillDue(db.sql, n);
      await refillDue(empty.sql, n);
    };
    await refill();
    for (const s of [db.sql, empty.sql]) await s`VACUUM ANALYZE tasks`;
    const [scheduled, none] = [db.pool(1), empty.pool(1)];
    return await compare(
      cfg,
      "claimNextTask with 100,000 tasks scheduled ahead (baseline: none scheduled)",
      () => claimNextTask(scheduled, { claimedBy: "bench" }),
      () => claimNextTask(none, { claimedBy: "bench" }),
      { before: refill },
    );
  } finally {
    await empty.drop();
  }
}
