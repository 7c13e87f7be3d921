/**
 * Leadership under real faults: every instance is a separate `deno run`
 * process with its own connections, killed, paused or cut off from
 * PostgreSQL (through a loopback proxy) by the test. The database's own
 * record (see tests/fault/_invariants.ts) is checked after each.
 */
import { assert, assertEquals } from "./_assert.ts";
import { withSchema } from "./_helpers.ts";
import { Child, type ChildConfig, type ChildEvent, closeAll } from "./fault/_children.ts";
import { checkInvariants, installFaultTables } from "./fault/_invariants.ts";
import { startProxy } from "./fault/_proxy.ts";
import { createTask, getTask } from "../src/tasks.ts";
import type { Sql } from "../src/db.ts";

const LEASE = 1500;
const RETRY = 300;
const timing = { leaseMs: LEASE, renewMs: 300, retryMs: RETRY };
/** Room for process start-up and a loaded two-core machine. */
const SLACK = 1500;

const isElected = (e: ChildEvent) => e.ev === "elected";

async function assertInvariants(sql: Sql): Promise<void> {
  const report = await checkInvariants(sql);
  assertEquals(report.violations, []);
}

/** Starts children one after another, so the first one leads. */
function spawn(url: string, configs: ChildConfig[]): Child[] {
  return configs.map((c) => new Child(url, c));
}

/** The one child that is elected first (waiting for all to be ready). */
async function firstLeader(children: Child[]): Promise<{ leader: Child; term: number }> {
  await Promise.all(children.map((c) => c.waitFor((e) => e.ev === "ready", 20_000)));
  const end = performance.now() + 10_000;
  for (;;) {
    const leaders = children.filter((c) => c.events.some(isElected));
    if (leaders.length === 1) {
      return { leader: leaders[0], term: leaders[0].find(isElected)[0].term! };
    }
    assert(leaders.length === 0, `several leaders: ${leaders.map((c) => c.identity)}`);
    assert(performance.now() < end, "nobody was elected");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The first `elected` event of any of `children` after the given event counts. */
async function nextLeader(
  children: Child[],
  timeoutMs: number,
): Promise<{ child: Child; event: ChildEvent }> {
  const marks = children.map((c) => c.events.length);
  const end = performance.now() + timeoutMs;
  for (;;) {
    for (const [i, c] of children.entries()) {
      const e = c.events.slice(marks[i]).find(isElected);
      if (e) return { child: c, event: e };
    }
    if (performance.now() > end) throw new Error(`no new leader within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("fault: SIGKILL the leader process → a new leader at the next term within lease + retry", () =>
  withSchema(async (sql, ctx) => {
    await installFaultTables(sql);
    const children = spawn(
      ctx.url,
      ["a", "b", "c"].map((identity) => ({ identity, ...timing, mode: "writes" as const })),
    );
    try {
      const { leader, term } = await firstLeader(children);
      await leader.waitFor((e) => e.ev === "write" && e.ok === true, 10_000);
      const others = children.filter((c) => c !== leader);
      const watching = nextLeader(others, LEASE + RETRY + SLACK + 5_000);
      const killedAt = Date.now();
      leader.kill("SIGKILL");
      const { event } = await watching;
      const failover = event.wall - killedAt;
      assertEquals(event.term, term + 1);
      assert(failover <= LEASE + RETRY + SLACK, `failover took ${failover} ms`);
      assert((await leader.status).signal === "SIGKILL");
      await Promise.race(
        others.map((c) =>
          c.waitFor((e) => e.ev === "write" && e.ok === true && e.term === term + 1, 10_000)
        ),
      );
      await assertInvariants(sql);
    } finally {
      await closeAll(children);
    }
  }));

Deno.test(
  "fault: SIGSTOP the leader past its lease → a successor leads; on SIGCONT the old one demotes and none of its fenced writes commit after the successor's",
  () =>
    withSchema(async (sql, ctx) => {
      await installFaultTables(sql);
      const config = { ...timing, mode: "writes" as const, workMs: 600 };
      const a = new Child(ctx.url, { identity: "a", ...config });
      const children = [a];
      try {
        await a.waitFor(isElected, 20_000);
        const b = new Child(ctx.url, { identity: "b", ...config });
        children.push(b);
        await b.waitFor((e) => e.ev === "ready", 20_000);
        // Pause a while it works, between fenced writes, so it holds no lock.
        const from = a.events.length;
        await a.waitFor((e) => e.ev === "work", 10_000, from);
        a.kill("SIGSTOP");
        const elected = await b.waitFor(isElected, LEASE + RETRY + SLACK + 5_000);
        assertEquals(elected.term, 2);
        const first = await b.waitFor((e) => e.ev === "write" && e.ok === true, 10_000);
        const resumedFrom = a.events.length;
        a.kill("SIGCONT");
        const demoted = await a.waitFor((e) => e.ev === "demoted", 10_000, resumedFrom);
        assert(demoted.reason === "expired" || demoted.reason === "lost", demoted.reason);
        // Its write in flight, made with the old lease after it woke, is refused by the fence.
        const late = await a.waitFor((e) => e.ev === "write", 10_000, resumedFrom);
        assertEquals([late.ok, late.fenced, late.term], [false, true, 1]);
        const [{ n }] = await sql`
          SELECT count(*)::int AS n FROM fault_log WHERE holder = 'a' AND seq > ${first.seq!}`;
        assertEquals(n, 0);
        // a is a follower now and b keeps leading.
        await new Promise((r) => setTimeout(r, 2 * RETRY));
        assertEquals(a.find(isElected).length, 1);
        assertEquals(b.find((e) => e.ev === "demoted").length, 0);
        await assertInvariants(sql);
      } finally {
        await closeAll(children);
      }
    }),
);

for (const fault of ["partition", "cut"] as const) {
  Deno.test(
    `fault: a ${fault} between the leader and PostgreSQL → the leader demotes by its own clock before its lease could expire, and another takes over`,
    () =>
      withSchema(async (sql, ctx) => {
        await installFaultTables(sql);
        const proxy = startProxy({
          hostname: new URL(ctx.url).hostname,
          port: Number(new URL(ctx.url).port || 5432),
        });
        const config = { ...timing, mode: "writes" as const, workMs: 100 };
        const a = new Child(proxy.url(ctx.url), { identity: "a", ...config });
        const children = [a];
        try {
          await a.waitFor(isElected, 20_000);
          const b = new Child(ctx.url, { identity: "b", ...config });
          children.push(b);
          await b.waitFor((e) => e.ev === "ready", 20_000);
          await a.waitFor((e) => e.ev === "write" && e.ok === true, 10_000);
          const from = a.events.length;
          const cutAt = Date.now();
          proxy[fault]();
          const demoted = await a.waitFor((e) => e.ev === "demoted", 10_000, from);
          // A partition leaves the renewal hanging: trust runs out. A cut fails the renewal
          // in flight at once, or leaves the next one reconnecting until trust runs out.
          const reasons = fault === "partition" ? ["expired"] : ["error", "expired"];
          assert(reasons.includes(demoted.reason!), `demoted: ${demoted.reason}`);
          assert(
            demoted.wall < demoted.expiresAt!,
            `demoted ${demoted.wall - demoted.expiresAt!} ms after its lease expired`,
          );
          const [{ expires }] = await sql`SELECT expires_at AS expires FROM leader_leases`;
          assert(demoted.wall < expires.getTime(), "demoted after the database lease expired");
          const elected = await b.waitFor(isElected, LEASE + RETRY + SLACK + 5_000);
          assertEquals(elected.term, 2);
          assert(elected.wall - cutAt <= LEASE + RETRY + SLACK, `took ${elected.wall - cutAt} ms`);
          await b.waitFor((e) => e.ev === "write" && e.ok === true, 10_000);
          // Healed, a finds b leading and stays a follower; its stale writes stay out.
          proxy.heal();
          await new Promise((r) => setTimeout(r, LEASE));
          assertEquals(a.find(isElected).length, 1);
          assertEquals(b.find((e) => e.ev === "demoted").length, 0);
          await assertInvariants(sql);
        } finally {
          await closeAll(children);
          await proxy.close();
        }
      }),
  );
}

/** Creates `n` queued tasks; returns their ids. */
async function queueTasks(sql: Sql, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await createTask(sql, { action: "deploy_nodes", status: "queued" })).id);
  }
  return ids;
}

Deno.test(
  "fault: SIGKILL a leader holding claimed tasks → its successor recovers them and finishes each once, at its own term",
  () =>
    withSchema(async (sql, ctx) => {
      await installFaultTables(sql);
      const ids = await queueTasks(sql, 3);
      const a = new Child(ctx.url, {
        identity: "a",
        ...timing,
        mode: "tasks",
        workMs: 60_000,
        batch: 3,
      });
      const children = [a];
      try {
        const claimed = await a.waitFor((e) => e.ev === "claimed", 20_000);
        assertEquals([...claimed.ids!].sort(), [...ids].sort());
        for (const id of ids) {
          const t = await getTask(sql, id);
          assertEquals([t?.status, t?.claimedBy, t?.claimedTerm], ["running", "a", 1]);
        }
        const b = new Child(ctx.url, {
          identity: "b",
          ...timing,
          mode: "tasks",
          workMs: 50,
          batch: 3,
        });
        children.push(b);
        await b.waitFor((e) => e.ev === "ready", 20_000);
        a.kill("SIGKILL");
        const recovered = await b.waitFor(
          (e) => e.ev === "recovered",
          LEASE + RETRY + SLACK + 5_000,
        );
        assertEquals(recovered.term, 2);
        assertEquals([...recovered.ids!].sort(), [...ids].sort());
        for (const id of ids) {
          await b.waitFor((e) => e.ev === "finished" && e.task === id && e.ok === true, 10_000);
        }
        const finishes = await sql`
          SELECT task_id, term::int AS term, holder FROM finish_log ORDER BY task_id`;
        assertEquals(
          finishes.map((f) => [f.task_id, f.term, f.holder]),
          [...ids].sort().map((id) => [id, 2, "b"]),
        );
        for (const id of ids) {
          const t = await getTask(sql, id, { messages: true });
          assertEquals([t?.status, t?.result.status, t?.claimedTerm, t?.retry], [
            "complete",
            "success",
            2,
            1,
          ]);
          assert(t?.messages?.some((m) => m.message.includes("term 1")), "a recovery message");
        }
        const [{ n }] = await sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running'`;
        assertEquals(n, 0);
        await assertInvariants(sql);
      } finally {
        await closeAll(children);
      }
    }),
);

Deno.test(
  "fault: a leader paused while holding claimed tasks → the successor finishes them; after SIGCONT the old process's late writes to them fail",
  () =>
    withSchema(async (sql, ctx) => {
      await installFaultTables(sql);
      const ids = await queueTasks(sql, 3);
      const a = new Child(ctx.url, {
        identity: "a",
        ...timing,
        mode: "tasks",
        workMs: 2_000,
        batch: 3,
      });
      const children = [a];
      try {
        await a.waitFor((e) => e.ev === "claimed", 20_000);
        const b = new Child(ctx.url, {
          identity: "b",
          ...timing,
          mode: "tasks",
          workMs: 50,
          batch: 3,
        });
        children.push(b);
        await b.waitFor((e) => e.ev === "ready", 20_000);
        a.kill("SIGSTOP");
        const recovered = await b.waitFor(
          (e) => e.ev === "recovered",
          LEASE + RETRY + SLACK + 5_000,
        );
        assertEquals(recovered.ids!.length, 3);
        for (const id of ids) {
          await b.waitFor((e) => e.ev === "finished" && e.task === id && e.ok === true, 10_000);
        }
        const from = a.events.length;
        a.kill("SIGCONT");
        for (const id of ids) {
          const late = await a.waitFor((e) => e.ev === "finished" && e.task === id, 10_000, from);
          assertEquals([late.ok, late.fenced, late.term], [false, true, 1]);
        }
        for (const id of ids) {
          const t = await getTask(sql, id);
          assertEquals([t?.status, t?.result.message], ["complete", "finished by b at term 2"]);
        }
        const [{ n }] = await sql`SELECT count(*)::int AS n FROM finish_log WHERE holder = 'a'`;
        assertEquals(n, 0);
        await assertInvariants(sql);
      } finally {
        await closeAll(children);
      }
    }),
);

Deno.test("the invariant check catches two leaders at once, a term going down, a stale write and a double finish", () =>
  withSchema(async (sql) => {
    await installFaultTables(sql);
    const clean = await checkInvariants(sql);
    assertEquals(clean.violations, []);
    // Forged history: term 2 begins before term 1 ends, then term 1 shows up again.
    await sql`
      INSERT INTO lease_history (election, holder, term, acquired_at, renewed_at, expires_at)
      VALUES ('default', 'a', 1, '2030-01-01 00:00:00+00', '2030-01-01 00:00:00+00', '2030-01-01 00:00:10+00'),
             ('default', 'b', 2, '2030-01-01 00:00:05+00', '2030-01-01 00:00:05+00', '2030-01-01 00:00:15+00'),
             ('default', 'a', 1, '2030-01-01 00:00:00+00', '2030-01-01 00:00:00+00', '2030-01-01 00:00:20+00')`;
    await sql`
      INSERT INTO fault_log (term, holder, at)
      VALUES (2, 'b', '2030-01-01 00:00:06+00'), (1, 'a', '2030-01-01 00:00:07+00')`;
    const task = crypto.randomUUID();
    await sql`
      INSERT INTO finish_log (task_id, term, holder, at)
      VALUES (${task}, 2, 'b', '2030-01-01 00:00:06+00'), (${task}, 2, 'b', '2030-01-01 00:00:07+00')`;
    const { violations } = await checkInvariants(sql);
    const has = (text: string) => violations.some((v) => v.includes(text));
    assert(has("term went down 2 → 1"), violations.join("\n"));
    assert(has("two leaders at once"), violations.join("\n"));
    assert(has("a stale write of term 1 after term 2"), violations.join("\n"));
    assert(has("outside its term"), violations.join("\n"));
    assert(has(`task ${task} finished 2 times`), violations.join("\n"));
  }));
