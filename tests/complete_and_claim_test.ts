import {
  completeAndClaimNext,
  createTask,
  createTasks,
  getTask,
  type Lease,
  NotFoundError,
  NotLeaderError,
} from "../mod.ts";
import type { Sql } from "../src/db.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dbTest } from "./_helpers.ts";

async function lead(sql: Sql, holder: string, term: number): Promise<Lease> {
  const [row] = await sql`
    INSERT INTO leader_leases (election, holder, term, acquired_at, renewed_at, expires_at)
    VALUES ('default', ${holder}, ${term}, clock_timestamp(), clock_timestamp(),
            clock_timestamp() + interval '1 minute')
    ON CONFLICT (election) DO UPDATE SET holder = excluded.holder, term = excluded.term,
      expires_at = excluded.expires_at
    RETURNING expires_at`;
  return { election: "default", holder, term, expiresAt: row.expires_at };
}

const done = { status: "complete", result: { status: "success" } } as const;

dbTest(
  "completeAndClaimNext() completes one task and claims the oldest queued one",
  async (sql) => {
    const [a, b, c] = await createTasks(sql, [
      { action: "deploy_node", status: "running" },
      { action: "deploy_node", status: "queued" },
      { action: "deploy_node", status: "queued" },
    ]);
    const next = await completeAndClaimNext(sql, a.id, done, { claimedBy: "w1" });
    assertEquals([next?.id, next?.status, next?.claimedBy], [b.id, "running", "w1"]);
    const finished = await getTask(sql, a.id);
    assertEquals([finished?.status, finished?.result.status], ["complete", "success"]);
    assertEquals((await completeAndClaimNext(sql, b.id, done))?.id, c.id);
    assertEquals(await completeAndClaimNext(sql, c.id, done), null);
    assertEquals((await getTask(sql, c.id))?.status, "complete");
  },
);

dbTest("completeAndClaimNext() honours the action filter", async (sql) => {
  const a = await createTask(sql, { action: "deploy_node", status: "running" });
  await createTask(sql, { action: "prepare_node", status: "queued" });
  const wanted = await createTask(sql, { action: "deploy_node", status: "queued" });
  const next = await completeAndClaimNext(sql, a.id, done, { actions: ["deploy_node"] });
  assertEquals(next?.id, wanted.id);
});

dbTest("completeAndClaimNext() on a missing task claims nothing", async (sql) => {
  const queued = await createTask(sql, { action: "deploy_node", status: "queued" });
  await assertRejects(
    () => completeAndClaimNext(sql, crypto.randomUUID(), done),
    NotFoundError,
  );
  assertEquals((await getTask(sql, queued.id))?.status, "queued");
});

dbTest("completeAndClaimNext() with a stale lease writes nothing", async (sql) => {
  const old = await lead(sql, "a", 1);
  const [a, b] = await createTasks(sql, [
    { action: "deploy_node", status: "running" },
    { action: "deploy_node", status: "queued" },
  ]);
  const lease = await lead(sql, "b", 2);
  await assertRejects(() => completeAndClaimNext(sql, a.id, done, { lease: old }), NotLeaderError);
  assertEquals((await getTask(sql, a.id))?.status, "running");
  assertEquals((await getTask(sql, b.id))?.status, "queued");
  const next = await completeAndClaimNext(sql, a.id, done, { lease });
  assertEquals([next?.id, next?.claimedTerm], [b.id, 2]);
  assert((await getTask(sql, a.id))?.status === "complete");
});
