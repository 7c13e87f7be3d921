import {
  claimNextTask,
  createTask,
  getTask,
  type Lease,
  listResultMessages,
  NotLeaderError,
  recoverTasks,
  updateTask,
} from "../mod.ts";
import type { Sql } from "../src/db.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

/** Writes the lease row directly, as claimLeadership would, and returns the lease. */
async function lead(sql: Sql, holder: string, term: number, ms = 60_000): Promise<Lease> {
  const [row] = await sql`
    INSERT INTO leader_leases (election, holder, term, acquired_at, renewed_at, expires_at)
    VALUES ('default', ${holder}, ${term}, clock_timestamp(), clock_timestamp(),
            clock_timestamp() + ${ms} * interval '1 millisecond')
    ON CONFLICT (election) DO UPDATE SET holder = excluded.holder, term = excluded.term,
      expires_at = excluded.expires_at
    RETURNING expires_at`;
  return { election: "default", holder, term, expiresAt: row.expires_at };
}

dbTest("claimNextTask() with a lease records the leader's term and holder", async (sql) => {
  const lease = await lead(sql, "a", 3);
  const task = await createTask(sql, { action: "deploy_node", status: "queued" });
  const claimed = await claimNextTask(sql, { lease });
  assertEquals([claimed?.id, claimed?.claimedTerm, claimed?.claimedBy], [task.id, 3, "a"]);
  assertEquals(await claimNextTask(sql, { lease }), null);
});

dbTest("a stale or expired lease cannot claim or update, and nothing changes", async (sql) => {
  const old = await lead(sql, "a", 1);
  const task = await createTask(sql, { action: "deploy_node", status: "queued" });
  await lead(sql, "b", 2);
  await assertRejects(() => claimNextTask(sql, { lease: old }), NotLeaderError);
  await assertRejects(() => updateTask(sql, task.id, { retry: 1 }, { lease: old }), NotLeaderError);
  const expired = await lead(sql, "b", 2, -1);
  await assertRejects(() => claimNextTask(sql, { lease: expired }), NotLeaderError);
  assertEquals((await getTask(sql, task.id, { messages: false }))?.version, 1);
});

dbTest(
  "recoverTasks() requeues tasks running under older terms, with a message saying why",
  async (sql) => {
    const first = await lead(sql, "a", 1);
    const t1 = await createTask(sql, { action: "deploy_node", status: "queued" });
    const t2 = await createTask(sql, { action: "deploy_node", status: "queued" });
    await claimNextTask(sql, { lease: first });
    await claimNextTask(sql, { lease: first });
    const second = await lead(sql, "b", 2);
    const mine = await createTask(sql, { action: "deploy_node", status: "queued" });
    await claimNextTask(sql, { lease: second });
    await assertRejects(() => recoverTasks(sql, first), NotLeaderError);
    const recovered = await recoverTasks(sql, second);
    assertEquals(recovered.map((t) => [t.id, t.status, t.retry, t.claimedTerm]), [
      [t1.id, "queued", 1, null],
      [t2.id, "queued", 1, null],
    ]);
    const [note] = await listResultMessages(sql, t1.id);
    assert(note.message.includes("term 1") && note.message.includes("term 2"), note.message);
    assertEquals((await getTask(sql, mine.id))?.status, "running");
    assertEquals(await recoverTasks(sql, second), []);
    const again = await claimNextTask(sql, { lease: second });
    assertEquals([again?.id, again?.claimedTerm], [t1.id, 2]);
  },
);

dbTest("recoverTasks({to: 'failed'}) completes orphans as failures", async (sql) => {
  const first = await lead(sql, "a", 1);
  const t = await createTask(sql, { action: "deploy_node", status: "queued" });
  await claimNextTask(sql, { lease: first });
  const second = await lead(sql, "b", 2);
  const [failed] = await recoverTasks(sql, second, { to: "failed" });
  assertEquals([failed.id, failed.status, failed.result.status], [t.id, "complete", "failure"]);
  assertEquals(failed.result.errorCount, 1);
});
