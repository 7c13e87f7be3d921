import { assert, assertEquals, assertRejects } from "./_assert.ts";
import {
  abortable,
  cancellable,
  deadline,
  delay,
  settlesWithin,
  sleep,
  timeoutSignal,
} from "../src/_async.ts";

/** A signal that counts its abort listeners. */
function counted(): { ac: AbortController; listeners: () => number } {
  const ac = new AbortController();
  let n = 0;
  const add = ac.signal.addEventListener.bind(ac.signal);
  const remove = ac.signal.removeEventListener.bind(ac.signal);
  ac.signal.addEventListener = ((...a: Parameters<typeof add>) => (n++, add(...a))) as typeof add;
  ac.signal.removeEventListener =
    ((...a: Parameters<typeof remove>) => (n--, remove(...a))) as typeof remove;
  return { ac, listeners: () => n };
}

Deno.test("abortable() settles as the promise does and removes its listener", async () => {
  const { ac, listeners } = counted();
  assertEquals(await abortable(Promise.resolve(7), ac.signal), 7);
  await Promise.resolve();
  assertEquals(listeners(), 0);
  await assertRejects(() => abortable(Promise.reject(new Error("x")), ac.signal), Error, "x");
  assertEquals(await abortable(5, ac.signal), 5); // a plain value, as Promise.race takes
});

Deno.test("abortable() rejects with the signal's reason at once and calls onAbort", async () => {
  const ac = new AbortController();
  let called = 0;
  const p = abortable(new Promise<number>(() => {}), ac.signal, () => called++);
  ac.abort(new Error("gave up"));
  await assertRejects(() => p, Error, "gave up");
  assertEquals(called, 1);
  const early = abortable(new Promise<number>(() => {}), ac.signal, () => called++);
  await assertRejects(() => early, Error, "gave up");
  assertEquals(called, 2);
});

Deno.test("cancellable() on an aborted signal never calls then (nothing is sent)", async () => {
  const ac = new AbortController();
  ac.abort(new Error("early"));
  let thens = 0;
  let cancels = 0;
  const query = Object.assign(new Promise<number>(() => {}), { cancel: () => cancels++ });
  query.then = (() => (thens++, Promise.resolve())) as typeof query.then;
  await assertRejects(() => cancellable(query, ac.signal), Error, "early");
  assertEquals([thens, cancels], [0, 0]);
});

Deno.test("cancellable() cancels the statement on a later abort", async () => {
  const ac = new AbortController();
  let cancels = 0;
  const query = Object.assign(new Promise<number>(() => {}), { cancel: () => cancels++ });
  const p = cancellable(query, ac.signal);
  ac.abort(new Error("late"));
  await assertRejects(() => p, Error, "late");
  assertEquals(cancels, 1);
});

Deno.test("delay() rejects on abort and clears its timer (the sanitizer would see a leak)", async () => {
  const ac = new AbortController();
  const p = delay(60_000, { signal: ac.signal });
  ac.abort(new Error("stop"));
  await assertRejects(() => p, Error, "stop");
  await assertRejects(() => delay(10, { signal: ac.signal }), Error, "stop");
  await delay(1);
});

Deno.test("sleep() resolves early on a wake and clears its timer", async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  const p = sleep(60_000, ac.signal);
  ac.abort();
  await p;
  assert(performance.now() - t0 < 1000);
  await sleep(1, new AbortController().signal);
});

Deno.test("timeoutSignal() aborts with its reason after ms, or the parent's", async () => {
  const parent = new AbortController();
  const t = timeoutSignal(parent.signal, 5, () => new DOMException("slow", "TimeoutError"));
  await new Promise((r) => setTimeout(r, 20));
  assert(t.timedOut && t.signal.aborted && (t.signal.reason as Error).message === "slow");
  t.clear();
  const u = timeoutSignal(parent.signal, 60_000, () => "never");
  parent.abort("parent");
  assertEquals([u.timedOut, u.signal.reason], [false, "parent"]);
  u.clear();
});

Deno.test("deadline() and settlesWithin() time-box a promise and clear their timers", async () => {
  assertEquals(await deadline(Promise.resolve(1), 60_000), 1);
  const never = new Promise(() => {});
  const err = await assertRejects(() => deadline(never, 5), DOMException);
  assertEquals((err as DOMException).name, "TimeoutError");
  await assertRejects(() => deadline(never, 5, () => new RangeError("late")), RangeError);
  assertEquals(await settlesWithin(Promise.resolve(), 60_000), true);
  assertEquals(await settlesWithin(never, 5), false);
  await assertRejects(() => settlesWithin(Promise.reject(new Error("no")), 60_000), Error, "no");
});
