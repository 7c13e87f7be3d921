import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { NotLeaderError, ValidationError } from "../src/errors.ts";
import {
  assertLeadership,
  claimLeadership,
  DEFAULT_ELECTION,
  getLeader,
  leadershipChannel,
  type Lease,
  releaseLeadership,
  renewLeadership,
} from "../src/leadership/lease.ts";
import type { Sql } from "../src/db.ts";
import { dbTest } from "./_helpers.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function leaseRow(sql: Sql, election = DEFAULT_ELECTION) {
  const [row] = await sql`
    SELECT holder, term::int AS term, acquired_at, renewed_at, expires_at,
           expires_at > clock_timestamp() AS live
    FROM leader_leases WHERE election = ${election}`;
  return row;
}

/** Waits until the database clock has passed `lease.expiresAt`. */
async function waitExpired(sql: Sql, lease: Lease): Promise<void> {
  for (;;) {
    // expiresAt is rounded down to milliseconds: add one to be past the real expiry.
    const [{ passed }] = await sql`
      SELECT clock_timestamp() >= ${lease.expiresAt}::timestamptz + interval '1 ms' AS passed`;
    if (passed) return;
    await sleep(50);
  }
}

async function fencedLogTable(sql: Sql): Promise<void> {
  await sql`CREATE TABLE fenced_log (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    term bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`;
}

dbTest(
  "claimLeadership(): Drydock's case: an empty table is claimed, a second identity is denied, after the lease passes it wins a larger term",
  async (sql) => {
    const a = await claimLeadership(sql, { identity: "a", leaseMs: 1000 });
    assert(a);
    assertEquals([a.election, a.holder, a.term], [DEFAULT_ELECTION, "a", 1]);
    assertEquals(await claimLeadership(sql, { identity: "b", leaseMs: 1000 }), null);
    assertEquals((await leaseRow(sql)).holder, "a");
    await waitExpired(sql, a);
    const b = await claimLeadership(sql, { identity: "b", leaseMs: 1000 });
    assert(b);
    assertEquals([b.holder, b.term], ["b", 2]);
    assert(b.expiresAt > a.expiresAt);
  },
);

dbTest(
  "claimLeadership(): the lease is timed on the database clock, timestamptz, acquired = renewed, expiry = lease later",
  async (sql) => {
    const lease = await claimLeadership(sql, { identity: "a", leaseMs: 15_000 });
    assert(lease);
    const row = await leaseRow(sql);
    assertEquals(row.acquired_at.getTime(), row.renewed_at.getTime());
    assertEquals(row.expires_at.getTime() - row.acquired_at.getTime(), 15_000);
    assertEquals(row.expires_at.getTime(), lease.expiresAt.getTime());
    const [{ type }] = await sql`
      SELECT data_type AS type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'leader_leases'
        AND column_name = 'expires_at'`;
    assertEquals(type, "timestamp with time zone");
  },
);

dbTest(
  "claimLeadership(): a live lease is not claimed again, not even by its holder",
  async (sql) => {
    const a = await claimLeadership(sql, { identity: "a", leaseMs: 10_000 });
    assert(a);
    assertEquals(await claimLeadership(sql, { identity: "a", leaseMs: 10_000 }), null);
    assertEquals((await leaseRow(sql)).term, 1);
  },
);

dbTest("claimLeadership(): elections are independent", async (sql) => {
  const a = await claimLeadership(sql, { election: "one", identity: "a", leaseMs: 10_000 });
  const b = await claimLeadership(sql, { election: "two", identity: "b", leaseMs: 10_000 });
  assertEquals([a?.holder, a?.term, b?.holder, b?.term], ["a", 1, "b", 1]);
  assertEquals((await getLeader(sql, "two"))?.holder, "b");
  assertEquals(await getLeader(sql), null);
});

dbTest(
  "claimLeadership(): 20 claimants racing on separate connections, exactly one wins, on an empty table and on an expired lease",
  async (_sql, ctx) => {
    const pools = Array.from({ length: 20 }, () => ctx.connect({ max: 1 }));
    await Promise.all(pools.map((p) => p`SELECT 1`)); // connected, so they really race
    for (const round of [1, 2]) {
      const results = await Promise.all(
        pools.map((p, i) => claimLeadership(p, { identity: `c${i}`, leaseMs: 10_000 })),
      );
      const winners = results.filter((r): r is Lease => r !== null);
      assertEquals(winners.length, 1, `round ${round}: ${winners.length} winners`);
      assertEquals(winners[0].term, round);
      const row = await leaseRow(pools[0]);
      assertEquals([row.holder, row.term], [winners[0].holder, round]);
      assert(await releaseLeadership(pools[0], winners[0]));
    }
  },
);

dbTest(
  "renewLeadership(): extends a live lease and keeps its term; refuses another holder, a stale term and an expired lease",
  async (sql) => {
    const a = await claimLeadership(sql, { identity: "a", leaseMs: 1000 });
    assert(a);
    const renewed = await renewLeadership(sql, a, { leaseMs: 1000 });
    assert(renewed);
    assertEquals([renewed.holder, renewed.term], ["a", 1]);
    assert(renewed.expiresAt > a.expiresAt);
    const row = await leaseRow(sql);
    assert(row.renewed_at > row.acquired_at);
    assertEquals(await renewLeadership(sql, { ...a, holder: "b" }, { leaseMs: 1000 }), null);
    assertEquals(await renewLeadership(sql, { ...a, term: 2 }, { leaseMs: 1000 }), null);
    await waitExpired(sql, renewed);
    assertEquals(await renewLeadership(sql, renewed, { leaseMs: 1000 }), null);
    const b = await claimLeadership(sql, { identity: "b", leaseMs: 1000 });
    assertEquals(b?.term, 2);
    // The old holder's term is gone for good, even once b's lease passes.
    assertEquals(await renewLeadership(sql, a, { leaseMs: 1000 }), null);
    assertEquals((await leaseRow(sql)).holder, "b");
  },
);

dbTest(
  "renewLeadership(): an aborted signal rejects at once and cancels the blocked statement",
  async (sql, ctx) => {
    const lease = await claimLeadership(sql, { identity: "a", leaseMs: 10_000 });
    assert(lease);
    const other = ctx.connect({ max: 1 });
    const holding = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const tx = other.begin(async (tx) => {
      await assertLeadership(tx, lease); // FOR SHARE: the renewal's UPDATE waits
      holding.resolve();
      await release.promise;
    });
    try {
      await holding.promise;
      const ac = new AbortController();
      const renewing = renewLeadership(sql, lease, { leaseMs: 10_000, signal: ac.signal });
      await sleep(200);
      const started = performance.now();
      ac.abort(new Error("time is up"));
      await assertRejects(() => renewing, Error, "time is up");
      assert(performance.now() - started < 100);
      // The statement was cancelled: the pool's only connection is free again.
      const [{ one }] = await sql`SELECT 1 AS one`;
      assertEquals(one, 1);
      assertEquals(
        (await leaseRow(sql)).renewed_at.getTime(),
        (await leaseRow(sql)).acquired_at.getTime(),
      );
    } finally {
      release.resolve();
      await tx;
    }
    const aborted = AbortSignal.abort(new Error("already"));
    await assertRejects(
      () => renewLeadership(sql, lease, { leaseMs: 10_000, signal: aborted }),
      Error,
      "already",
    );
  },
);

dbTest(
  "releaseLeadership(): expires the lease and notifies the schema's channel in the same statement; the next claim takes the next term",
  async (sql, ctx) => {
    const channel = await leadershipChannel(sql);
    assertEquals(channel, `statemgmt_leader:${ctx.schema}`);
    const listener = ctx.connect({ max: 1 });
    const payloads: string[] = [];
    const got = Promise.withResolvers<void>();
    const { unlisten } = await listener.listen(channel, (p) => {
      payloads.push(p);
      got.resolve();
    });
    try {
      const a = await claimLeadership(sql, { identity: "a", leaseMs: 60_000 });
      assert(a);
      assert(await releaseLeadership(sql, a));
      await got.promise;
      assertEquals(JSON.parse(payloads[0]), { election: DEFAULT_ELECTION, holder: "a", term: 1 });
      const row = await leaseRow(sql);
      assertEquals([row.live, row.holder, row.term], [false, "a", 1]);
      assertEquals(await getLeader(sql), null);
      // A second release of the same lease finds nothing live and says so, silently.
      assertEquals(await releaseLeadership(sql, a), false);
      const b = await claimLeadership(sql, { identity: "b", leaseMs: 60_000 });
      assertEquals([b?.holder, b?.term], ["b", 2]);
      // A stale lease cannot release the new holder's.
      assertEquals(await releaseLeadership(sql, a), false);
      assertEquals((await getLeader(sql))?.holder, "b");
      await sleep(100);
      assertEquals(payloads.length, 1);
    } finally {
      await unlisten();
    }
  },
);

dbTest("releaseLeadership(): the row is never deleted, so terms only grow", async (sql) => {
  let last = 0;
  for (let i = 0; i < 5; i++) {
    const lease = await claimLeadership(sql, { identity: "same", leaseMs: 60_000 });
    assert(lease);
    assert(lease.term > last);
    last = lease.term;
    assert(await releaseLeadership(sql, lease));
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM leader_leases`;
    assertEquals(n, 1);
  }
  assertEquals(last, 5);
});

dbTest(
  "getLeader(): the live lease, or null when never claimed, expired or released",
  async (sql) => {
    assertEquals(await getLeader(sql), null);
    const a = await claimLeadership(sql, { identity: "a", leaseMs: 500 });
    assertEquals(await getLeader(sql), a);
    await waitExpired(sql, a!);
    assertEquals(await getLeader(sql), null);
    const b = await claimLeadership(sql, { identity: "b", leaseMs: 60_000 });
    assertEquals(await getLeader(sql), b);
    await releaseLeadership(sql, b!);
    assertEquals(await getLeader(sql), null);
  },
);

dbTest(
  "assertLeadership(): a writer with a stale lease gets NotLeaderError and its write does not commit",
  async (sql) => {
    await fencedLogTable(sql);
    const write = (lease: Lease) =>
      sql.begin(async (tx) => {
        await assertLeadership(tx, lease);
        await tx`INSERT INTO fenced_log (term) VALUES (${lease.term})`;
      });
    const a = await claimLeadership(sql, { identity: "a", leaseMs: 500 });
    assert(a);
    await write(a);
    await waitExpired(sql, a);
    await assertRejects(() => write(a), NotLeaderError, "expired"); // expired, nobody claimed
    const b = await claimLeadership(sql, { identity: "b", leaseMs: 60_000 });
    assert(b);
    await assertRejects(() => write(a), NotLeaderError, "current: b, term 2");
    await assertRejects(() => write({ ...b, holder: "a" }), NotLeaderError);
    await write(b);
    const rows = await sql`SELECT term::int AS term FROM fenced_log ORDER BY seq`;
    assertEquals(rows.map((r) => r.term), [1, 2]);
    await assertRejects(
      () => sql.begin((tx) => assertLeadership(tx, { ...b, election: "none" })),
      NotLeaderError,
    );
  },
);

dbTest(
  "assertLeadership(): while a leader's fenced transaction is open, a usurper's claim cannot commit before it",
  async (sql, ctx) => {
    await fencedLogTable(sql);
    const usurperPool = ctx.connect({ max: 1 });
    const a = await claimLeadership(sql, { identity: "a", leaseMs: 300 });
    assert(a);
    let claimed: Lease | null | undefined;
    let claimedAt = 0;
    let committedAt = 0;
    let claiming: Promise<Lease | null> | undefined;
    await sql.begin(async (tx) => {
      await assertLeadership(tx, a);
      await waitExpired(usurperPool, a); // the lease is over; only the lock holds the usurper off
      claiming = claimLeadership(usurperPool, { identity: "b", leaseMs: 60_000 });
      claiming.then((l) => {
        claimed = l;
        claimedAt = performance.now();
      });
      await sleep(500);
      assertEquals(claimed, undefined, "the usurper's claim returned while the fence was held");
      await tx`INSERT INTO fenced_log (term) VALUES (${a.term})`;
      committedAt = performance.now();
    });
    const b = await claiming!;
    assert(b);
    assertEquals([b.holder, b.term], ["b", 2]);
    assert(claimedAt >= committedAt);
    // Compared in SQL: microseconds, where a JS Date would round to milliseconds.
    const [{ after }] = await sql`
      SELECT (SELECT acquired_at FROM leader_leases) > (SELECT at FROM fenced_log) AS after`;
    assert(after, "the new term began before the fenced write");
  },
);

dbTest("claim, renew and release validate their input before any SQL", async (sql, ctx) => {
  const bad = [
    { identity: "", leaseMs: 1000 },
    { identity: "a", leaseMs: 0 },
    { identity: "a", leaseMs: 1.5 },
    { identity: "a", leaseMs: 2 ** 31 },
    { identity: "a", leaseMs: 1000, election: "" },
    { identity: "a", leaseMs: 1000, election: "x".repeat(129) },
    { identity: "x".repeat(257), leaseMs: 1000 },
  ];
  for (const input of bad) {
    await assertRejects(() => claimLeadership(sql, input), ValidationError);
  }
  const err = await assertRejects(
    () => claimLeadership(sql, { identity: "", leaseMs: -1 }),
    ValidationError,
  );
  assertEquals(err.issues.map((i) => i.path).sort(), ["identity", "leaseMs"]);
  const lease: Lease = { election: "default", holder: "a", term: 1, expiresAt: new Date() };
  await assertRejects(() => renewLeadership(sql, lease, { leaseMs: 0 }), ValidationError);
  await assertRejects(
    () => renewLeadership(sql, { ...lease, term: 0 }, { leaseMs: 1 }),
    ValidationError,
  );
  await assertRejects(() => releaseLeadership(sql, { ...lease, holder: "" }), ValidationError);
  await assertRejects(() => getLeader(sql, ""), ValidationError);
  assertEquals(ctx.statements, []);
});
