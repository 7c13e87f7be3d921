/** Small measuring helpers shared by `peers.ts` and `scale.ts`: percentiles, sleeps, latency rows. */
import type { BenchRow } from "./_harness.ts";

/** The `p`-th percentile (0–100) of `xs`, nearest rank. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A latency row: lower is better, so `ratio` is theirs / ours (above 1: ours
 * is faster), and `opsPerSec` / `baselineOpsPerSec` carry the p50s in ms.
 */
export function latencyRow(name: string, ours: number[], theirs: number[]): BenchRow {
  const p50 = percentile(ours, 50);
  const base = percentile(theirs, 50);
  return {
    name,
    opsPerSec: p50,
    baselineOpsPerSec: base,
    ratio: base / p50,
    unit: "ms",
    extra: {
      p50,
      p95: percentile(ours, 95),
      theirP50: base,
      theirP95: percentile(theirs, 95),
      samples: ours.length,
    },
  };
}

/** Waits until `done()` holds, checking every `everyMs`, for at most `timeoutMs`. */
export async function waitFor(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 1,
): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await done()) return true;
    await sleep(everyMs);
  }
  return await done();
}

/**
 * Measures idle pickup latency: `n` times, after an idle pause of 20 ms
 * plus up to `jitterMs` (give a poller's period, so samples fall at random
 * phases of it), calls
 * `enqueue(i)` and waits until `arrived(i)` is reported (through the
 * returned `arrive` callback, from a handler or subscriber); returns the
 * milliseconds from just before `enqueue` to the arrival.
 */
export function pickupProbe(): {
  arrive: (i: number) => void;
  measure: (
    n: number,
    enqueue: (i: number) => Promise<unknown>,
    jitterMs?: number,
  ) => Promise<number[]>;
} {
  const waiting = new Map<number, (t: number) => void>();
  return {
    arrive(i) {
      const t = performance.now();
      waiting.get(i)?.(t);
    },
    async measure(n, enqueue, jitterMs = 20) {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        // Idle first; the random part spreads samples over any polling period.
        await sleep(20 + Math.random() * jitterMs);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const arrived = new Promise<number>((resolve, reject) => {
          waiting.set(i, resolve);
          timer = setTimeout(() => reject(new Error(`sample ${i} not picked up in 5 s`)), 5000);
        });
        const t = performance.now();
        try {
          await enqueue(i);
          out.push(await arrived - t);
        } finally {
          clearTimeout(timer);
          waiting.delete(i);
        }
      }
      return out;
    },
  };
}
