/**
 * Leadership soak: five orchestrator processes (tests/fault/_leader_child.ts),
 * each behind its own loopback proxy, elect a leader that writes fenced log
 * rows and works a task queue, while this program kills (SIGKILL), pauses
 * (SIGSTOP/SIGCONT), cuts and partitions them at random, and stops them
 * gracefully now and then. At the end it checks, on the database's own
 * record: never two leaders at once on its clock, terms only grow, no
 * stale fenced write, every task finished exactly once, none left running.
 *
 *   deno run --allow-all tests/soak/leadership_soak.ts --seconds 60 [--children 5] [--seed 42]
 *
 * It exits non-zero on a violated invariant. `DATABASE_URL` is honoured;
 * it works in a schema of its own, dropped afterwards.
 */
import postgres from "postgres";
import { migrate } from "../../src/migrate.ts";
import { createTask } from "../../src/tasks.ts";
import { Child, closeAll } from "../fault/_children.ts";
import { checkInvariants, installFaultTables } from "../fault/_invariants.ts";
import { startProxy, type TcpProxy } from "../fault/_proxy.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const SECONDS = arg("seconds", 60);
const CHILDREN = arg("children", 5);
const SEED = arg("seed", Date.now() % 100_000);
const timing = { leaseMs: 1500, renewMs: 300, retryMs: 300 };

/** A small seeded PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const base = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";
const schema = `soak_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
const schemaUrl = new URL(base);
schemaUrl.searchParams.set("search_path", schema);
const admin = postgres(base, { max: 1, onnotice: () => {} });
const sql = postgres(schemaUrl.toString(), { max: 4, onnotice: () => {} });

interface Slot {
  name: string;
  proxy: TcpProxy;
  child: Child;
  generation: number;
  paused: boolean;
  faulty: boolean;
}

const counts = { kills: 0, pauses: 0, cuts: 0, partitions: 0, stops: 0, tasks: 0 };
const retired: Child[] = [];
const slots: Slot[] = [];
let failed = false;

function spawn(slot: Pick<Slot, "name" | "proxy" | "generation">): Child {
  return new Child(slot.proxy.url(schemaUrl.toString()), {
    identity: `${slot.name}.${slot.generation}`,
    ...timing,
    mode: "both",
    workMs: 150,
    batch: 2,
  });
}

async function currentLeader(): Promise<string | null> {
  const [row] = await sql`
    SELECT holder FROM leader_leases WHERE expires_at > clock_timestamp()`;
  return row?.holder ?? null;
}

/** Picks a slot: the leader's half the time, else any, never one already under a fault. */
async function pick(): Promise<Slot | null> {
  const free = slots.filter((s) => !s.faulty);
  if (!free.length) return null;
  const leader = await currentLeader();
  const leading = free.find((s) => s.child.identity === leader);
  return leading && random() < 0.5 ? leading : free[between(0, free.length)];
}

async function restart(slot: Slot): Promise<void> {
  retired.push(slot.child);
  slot.generation++;
  slot.child = spawn(slot);
  await slot.child.waitFor((e) => e.ev === "ready", 30_000).catch((err) => {
    console.error(`soak: ${slot.name} did not come back: ${err.message}`);
    failed = true;
  });
}

async function fault(slot: Slot): Promise<void> {
  slot.faulty = true;
  try {
    const r = random();
    if (r < 0.3) {
      counts.kills++;
      slot.child.kill("SIGKILL");
      await slot.child.status;
      await sleep(between(100, 1500));
      await restart(slot);
    } else if (r < 0.55) {
      counts.pauses++;
      slot.paused = true;
      slot.child.kill("SIGSTOP");
      await sleep(between(300, 4000));
      slot.child.kill("SIGCONT");
      slot.paused = false;
    } else if (r < 0.75) {
      counts.partitions++;
      slot.proxy.partition();
      await sleep(between(300, 4000));
      slot.proxy.heal();
    } else if (r < 0.9) {
      counts.cuts++;
      slot.proxy.cut();
      await sleep(between(300, 4000));
      slot.proxy.heal();
    } else {
      counts.stops++;
      await slot.child.stop();
      await restart(slot);
    }
  } finally {
    slot.faulty = false;
  }
}

async function produce(until: number): Promise<void> {
  while (performance.now() < until) {
    await createTask(sql, { action: "soak_work", status: "queued" });
    counts.tasks++;
    await sleep(between(100, 300));
  }
}

async function chaos(until: number): Promise<void> {
  const running = new Set<Promise<void>>();
  while (performance.now() < until) {
    await sleep(between(500, 2000));
    const slot = await pick();
    if (!slot) continue;
    const p = fault(slot).finally(() => running.delete(p));
    running.add(p);
  }
  await Promise.all(running);
}

async function settle(): Promise<void> {
  for (const s of slots) {
    s.proxy.heal();
    if (s.paused) s.child.kill("SIGCONT");
  }
  const end = performance.now() + 30_000;
  for (;;) {
    const [{ open }] = await sql`
      SELECT count(*)::int AS open FROM tasks WHERE status IN ('queued', 'running')`;
    if (open === 0) return;
    if (performance.now() > end) {
      console.error(`soak: ${open} tasks still queued or running 30 s after the faults stopped`);
      failed = true;
      return;
    }
    await sleep(200);
  }
}

function summary(report: Awaited<ReturnType<typeof checkInvariants>>): void {
  const gaps = report.terms.slice(1).map((t, i) =>
    Math.round((t.acquiredAt - report.terms[i].endsAt) / 1000)
  ).sort((a, b) => a - b);
  const q = (p: number) =>
    gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))] : 0;
  const all = [...retired, ...slots.map((s) => s.child)];
  const events = all.flatMap((c) => c.events);
  const stale = events.filter((e) => e.ev === "write" && e.ok === false && e.fenced).length;
  const staleFinish =
    events.filter((e) => e.ev === "finished" && e.ok === false && e.fenced).length;
  const demotions: Record<string, number> = {};
  for (const e of events.filter((e) => e.ev === "demoted")) {
    demotions[e.reason!] = (demotions[e.reason!] ?? 0) + 1;
  }
  console.log(JSON.stringify(
    {
      seed: SEED,
      seconds: SECONDS,
      children: CHILDREN,
      faults: counts,
      terms: report.terms.length,
      newLeaderAfterLeaseEndMs: { p50: q(0.5), p95: q(0.95), max: gaps.at(-1) ?? 0 },
      demotions,
      fencedWrites: report.writes,
      staleWritesRefused: stale,
      tasksFinished: report.finishes,
      staleFinishesRefused: staleFinish,
      violations: report.violations,
    },
    null,
    2,
  ));
}

try {
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  await migrate(sql);
  await installFaultTables(sql);
  const target = new URL(base);
  for (let i = 0; i < CHILDREN; i++) {
    const proxy = startProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
    const slot = { name: `p${i}`, proxy, generation: 0 };
    slots.push({ ...slot, child: spawn(slot), paused: false, faulty: false });
  }
  await Promise.all(slots.map((s) => s.child.waitFor((e) => e.ev === "ready", 30_000)));
  console.error(`soak: seed ${SEED}, ${CHILDREN} processes, ${SECONDS} s of faults`);
  const until = performance.now() + SECONDS * 1000;
  await Promise.all([produce(until), chaos(until)]);
  await settle();
  const report = await checkInvariants(sql);
  summary(report);
  if (report.violations.length) failed = true;
  if (report.terms.length < 2) {
    console.error("soak: leadership never changed hands: the faults did not bite");
    failed = true;
  }
} catch (err) {
  console.error("soak: aborted:", err);
  failed = true;
} finally {
  await closeAll([...retired, ...slots.map((s) => s.child)]);
  await Promise.all(slots.map((s) => s.proxy.close()));
  await sql.end({ timeout: 5 });
  await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
}
Deno.exit(failed ? 1 : 0);
