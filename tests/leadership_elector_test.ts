import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { NotLeaderError, StateError, ValidationError } from "../src/errors.ts";
import {
  LeaderElector,
  type LeaderElectorEvent,
  type LeaderElectorEventType,
  type LeaderElectorOptions,
} from "../src/leadership/elector.ts";
import { assertLeadership, getLeader, type Lease } from "../src/leadership/lease.ts";
import type { Sql } from "../src/db.ts";
import { dbTest } from "./_helpers.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The next `type` event of any of `electors`, or a failure after `timeoutMs`. */
function nextEvent(
  electors: LeaderElector | LeaderElector[],
  type: LeaderElectorEventType,
  timeoutMs = 10_000,
): Promise<LeaderElectorEvent & { at: number }> {
  const targets = Array.isArray(electors) ? electors : [electors];
  const { promise, resolve, reject } = Promise.withResolvers<LeaderElectorEvent & { at: number }>();
  const off = () => targets.forEach((t) => t.removeEventListener(type, on));
  const timer = setTimeout(() => {
    off();
    reject(new Error(`no "${type}" event within ${timeoutMs} ms`));
  }, timeoutMs);
  const on = (e: LeaderElectorEvent) => {
    clearTimeout(timer);
    off();
    resolve(Object.assign(e, { at: performance.now() }));
  };
  targets.forEach((t) => t.addEventListener(type, on));
  return promise;
}

/** Every event of `elector`, in order. */
function record(elector: LeaderElector): LeaderElectorEvent[] {
  const events: LeaderElectorEvent[] = [];
  for (const type of ["elected", "demoted", "error"] as const) {
    elector.addEventListener(type, (e) => events.push(e));
  }
  return events;
}

/** Runs `fn` with `n` electors on `sql`, stopping them all afterwards. */
async function withElectors(
  sql: Sql,
  n: number,
  options: LeaderElectorOptions,
  fn: (electors: LeaderElector[]) => Promise<void>,
): Promise<void> {
  const electors = Array.from(
    { length: n },
    (_, i) => new LeaderElector(sql, { identity: `e${i}`, ...options }),
  );
  try {
    await fn(electors);
  } finally {
    await Promise.all(electors.map((e) => e.stop()));
  }
}

/** Polls `check` every 20 ms until it is true, or fails after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

Deno.test("LeaderElector: defaults are lease 15 s, renew 5 s, retry 2 s, margin 1 s, a fresh UUID per elector", () => {
  const sql = fakePool(); // the constructor touches no connection
  const a = new LeaderElector(sql);
  const b = new LeaderElector(sql);
  assertEquals([a.leaseMs, a.renewMs, a.retryMs, a.marginMs], [15_000, 5_000, 2_000, 1_000]);
  assertEquals(a.election, "default");
  assert(/^[0-9a-f-]{36}$/.test(a.identity));
  assert(a.identity !== b.identity);
  assertEquals([a.isLeader, a.lease, a.signal.aborted], [false, null, true]);
  const short = new LeaderElector(sql, { leaseMs: 1000 });
  assertEquals([short.renewMs, short.marginMs], [333, 200]);
});

Deno.test("LeaderElector: options are validated, leaseMs > renew deadline > renewMs, naming the field", () => {
  const sql = fakePool();
  const cases: [LeaderElectorOptions, string][] = [
    [{ leaseMs: 0 }, "leaseMs"],
    [{ leaseMs: 1500.5 }, "leaseMs"],
    [{ leaseMs: 50 }, "leaseMs"],
    [{ renewMs: -1 }, "renewMs"],
    [{ retryMs: 0 }, "retryMs"],
    [{ identity: "" }, "identity"],
    [{ election: "x".repeat(129) }, "election"],
    [{ leaseMs: 10_000, renewMs: 9_000 }, "renewMs"], // deadline 9000
    [{ leaseMs: 10_000, marginMs: 10_000 }, "marginMs"],
    [{ leaseMs: 10_000, marginMs: 5_000, renewMs: 5_000 }, "renewMs"],
    [{ leaseMs: 1000, renewMs: 5000 }, "renewMs"],
    [{ bogus: 1 } as LeaderElectorOptions, ""],
  ];
  for (const [options, path] of cases) {
    const err = assertThrows(() => new LeaderElector(sql, options), ValidationError);
    assertEquals(err.issues[0].path, path, JSON.stringify(options));
  }
  new LeaderElector(sql, { leaseMs: 10_000, marginMs: 5_000, renewMs: 4_999 });
});

dbTest(
  "three electors: exactly one leads; stop() of the leader hands over in well under a second with a 10 s lease",
  async (sql) => {
    await withElectors(sql, 3, { leaseMs: 10_000, retryMs: 5_000 }, async (electors) => {
      await Promise.all(electors.map((e) => e.start()));
      await until(() => electors.some((e) => e.isLeader), "a leader");
      await sleep(300);
      const leaders = electors.filter((e) => e.isLeader);
      assertEquals(leaders.length, 1);
      const old = leaders[0];
      const oldLease = old.lease!;
      assertEquals((await getLeader(sql))?.holder, old.identity);
      const signal = old.signal;
      assert(!signal.aborted);
      const others = electors.filter((e) => e !== old);
      const elected = nextEvent(others, "elected");
      const demoted = nextEvent(old, "demoted");
      const t0 = performance.now();
      await old.stop();
      const next = await elected;
      const handover = next.at - t0;
      assert(handover < 1000, `handover took ${handover.toFixed(0)} ms`);
      assertEquals(next.lease!.term, oldLease.term + 1);
      assertEquals((await demoted).reason, "stopped");
      assert(signal.aborted);
      assert(signal.reason instanceof NotLeaderError);
      assertEquals([old.isLeader, old.lease], [false, null]);
      assertEquals(others.filter((e) => e.isLeader).length, 1);
      assertEquals((await getLeader(sql))?.holder, next.lease!.holder);
    });
  },
);

dbTest("stop() releases before it resolves: no live lease is left behind", async (sql) => {
  await withElectors(sql, 1, { leaseMs: 60_000 }, async ([e]) => {
    await e.start();
    assert(e.isLeader);
    await e.stop();
    assertEquals(await getLeader(sql), null);
    const [row] = await sql`SELECT holder, term::int AS term FROM leader_leases`;
    assertEquals([row.holder, row.term], [e.identity, 1]);
  });
});

dbTest("without LISTEN, a follower still takes over by polling within retryMs", async (sql) => {
  await withElectors(sql, 2, { leaseMs: 10_000, retryMs: 400, listen: false }, async ([a, b]) => {
    await a.start();
    await b.start();
    assert(a.isLeader && !b.isLeader);
    const elected = nextEvent(b, "elected");
    const t0 = performance.now();
    await a.stop();
    const handover = (await elected).at - t0;
    assert(handover < 400 + 600, `handover took ${handover.toFixed(0)} ms`);
  });
});

dbTest(
  "a leader whose lease was taken behind its back demotes on its next renewal (reason lost) and aborts its signal",
  async (sql) => {
    await withElectors(sql, 1, { leaseMs: 3_000, renewMs: 200 }, async ([e]) => {
      const events = record(e);
      await e.start();
      const lease = e.lease!;
      const signal = e.signal;
      const demoted = nextEvent(e, "demoted");
      await sql`UPDATE leader_leases SET holder = 'usurper', term = term + 1`;
      const d = await demoted;
      assertEquals([d.reason, d.lease?.term], ["lost", lease.term]);
      assert(signal.aborted);
      assertEquals(e.isLeader, false);
      assertEquals(events.filter((x) => x.type === "error"), []);
      // Its stale lease no longer fences anything.
      await assertRejects(() => sql.begin((tx) => assertLeadership(tx, lease)), NotLeaderError);
    });
  },
);

dbTest(
  "a renewal blocked past the trust demotes by the local clock before the database lease expires (reason expired)",
  async (sql, ctx) => {
    await withElectors(sql, 1, { leaseMs: 1500, renewMs: 200 }, async ([e]) => {
      await e.start();
      assert(e.isLeader);
      const blocker = ctx.connect({ max: 1 });
      const holding = Promise.withResolvers<void>();
      const done = Promise.withResolvers<void>();
      let lastLease: Lease | null = null;
      const tx = blocker.begin(async (tx) => {
        await assertLeadership(tx, e.lease!); // FOR SHARE: renewals now wait
        lastLease = e.lease;
        holding.resolve();
        await done.promise;
      });
      try {
        await holding.promise;
        const d = await nextEvent(e, "demoted", 5_000);
        const demotedAt = Date.now();
        assertEquals(d.reason, "expired");
        // The last renewal that landed before the lock can have moved the expiry on.
        const [{ expires }] = await sql`SELECT expires_at AS expires FROM leader_leases`;
        assert(lastLease);
        assert(
          demotedAt < expires.getTime(),
          `demoted at ${new Date(demotedAt).toISOString()}, lease expires ${expires.toISOString()}`,
        );
        assertEquals(e.isLeader, false);
      } finally {
        done.resolve();
        await tx;
      }
      // Once the lock is gone it gives its old term back and leads again at a new term.
      const again = await nextEvent(e, "elected", 10_000);
      assertEquals(again.lease!.term, 2);
    });
  },
);

dbTest(
  "a renewal that fails demotes at once (reason error) and dispatches the error; the elector recovers",
  async (sql) => {
    await withElectors(sql, 1, { leaseMs: 2000, renewMs: 200, retryMs: 200 }, async ([e]) => {
      const events = record(e);
      await e.start();
      assert(e.isLeader);
      await sql`CREATE FUNCTION no_updates() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'renewals refused'; END $$`;
      await sql`CREATE TRIGGER no_updates BEFORE UPDATE ON leader_leases
        FOR EACH ROW EXECUTE FUNCTION no_updates()`;
      const t0 = performance.now();
      const d = await nextEvent(e, "demoted", 5_000);
      assertEquals(d.reason, "error");
      assert(String((d.error as Error).message).includes("renewals refused"));
      assert(d.at - t0 < 1000, "demoted at the first failed renewal");
      await until(() => events.some((x) => x.type === "error"), "an error event");
      await sql`DROP TRIGGER no_updates ON leader_leases`;
      const again = await nextEvent(e, "elected", 10_000);
      assert(again.lease!.term > d.lease!.term);
    });
  },
);

dbTest(
  "heartbeats use their own connection: a leader keeps its lease while the program's pool is busy for longer than a lease",
  async (_sql, ctx) => {
    const busy = ctx.connect({ max: 1 });
    await withElectors(busy, 1, { leaseMs: 1000, renewMs: 200 }, async ([e]) => {
      const events = record(e);
      await e.start();
      assert(e.isLeader);
      await busy`SELECT pg_sleep(2.5)`;
      assert(e.isLeader);
      assertEquals(events.map((x) => x.type), ["elected"]);
    });
  },
);

dbTest(
  "waitForLeadership(): resolves with the lease; an aborted signal and stop() reject it",
  async (sql) => {
    await withElectors(sql, 2, { leaseMs: 10_000 }, async ([a, b]) => {
      const waitA = a.waitForLeadership();
      await a.start();
      const lease = await waitA;
      assertEquals(lease.holder, a.identity);
      assertEquals(await a.waitForLeadership(), a.lease);
      await b.start();
      const ac = new AbortController();
      const aborted = b.waitForLeadership(ac.signal);
      ac.abort(new Error("gave up"));
      await assertRejects(() => aborted, Error, "gave up");
      const pending = b.waitForLeadership();
      await b.stop();
      await assertRejects(() => pending, NotLeaderError);
      await assertRejects(() => b.waitForLeadership(), NotLeaderError);
    });
  },
);

dbTest(
  "stop() before start() and twice is safe; start() after stop() rejects with StateError",
  async (sql) => {
    const e = new LeaderElector(sql, { leaseMs: 10_000 });
    await e.stop();
    await e.stop();
    const err = await assertRejects(() => e.start(), StateError);
    assertEquals(err.code, "invalid_state");
    const f = new LeaderElector(sql, { leaseMs: 10_000 });
    await f.start();
    assertEquals(f.start(), f.start());
    await Promise.all([f.stop(), f.stop()]);
    assertEquals(f.isLeader, false);
  },
);

dbTest(
  "a stale leader's signal is aborted and its lease no longer fences writes after a handover",
  async (sql) => {
    await withElectors(sql, 2, { leaseMs: 10_000, retryMs: 5_000 }, async ([a, b]) => {
      await a.start();
      await b.start();
      const stale = a.lease!;
      const signal = a.signal;
      const elected = nextEvent(b, "elected");
      await a.stop();
      const fresh = (await elected).lease!;
      assert(signal.aborted);
      await assertRejects(() => sql.begin((tx) => assertLeadership(tx, stale)), NotLeaderError);
      await sql.begin((tx) => assertLeadership(tx, fresh));
      assertEquals(b.lease?.term, stale.term + 1);
    });
  },
);

Deno.test(
  "on the embedded PGlite: three electors, one leader; stop() hands over within a second with a 10 s lease",
  async () => {
    const { openEmbedded } = await import("../src/embedded.ts");
    const { migrate } = await import("../src/migrate.ts");
    const db = await openEmbedded();
    try {
      await migrate(db.sql);
      await withElectors(db.sql, 3, { leaseMs: 10_000, retryMs: 5_000 }, async (electors) => {
        await Promise.all(electors.map((e) => e.start()));
        await until(() => electors.some((e) => e.isLeader), "a leader");
        assertEquals(electors.filter((e) => e.isLeader).length, 1);
        const old = electors.find((e) => e.isLeader)!;
        const next = nextEvent(electors.filter((e) => e !== old), "elected");
        const t0 = performance.now();
        await old.stop();
        const e = await next;
        assert(e.at - t0 < 1000, `handover took ${(e.at - t0).toFixed(0)} ms`);
        assertEquals(e.lease!.term, 2);
      });
    } finally {
      await db.close();
    }
  },
);

/** Passes the constructor's postgres.js check without connecting: it touches no connection. */
function fakePool(): Sql {
  return Object.assign(() => {}, { begin() {}, unsafe() {} }) as unknown as Sql;
}
