/**
 * How long a failover kept the workload from writing, from the
 * acknowledgement logs: from the fault to the first acknowledged write
 * after the outage (the end of the longest pause in acknowledgements after
 * the fault), and to the first `elected` event.
 *
 * @module
 */
import type { Entry } from "./ack_log.ts";

const WRITES = new Set(["create", "claim", "append", "complete"]);

/** The figures of one scenario, ms from the fault; null when it never happened. */
export interface Timing {
  firstWriteMs: number | null;
  /** The longest pause in acknowledged writes after the fault. */
  outageMs: number | null;
  firstElectedMs: number | null;
  /** Elections after the fault, and demotions. */
  elections: number;
  demotions: number;
}

/** Measures a scenario whose fault was injected at `faultAt` (wall clock ms). */
export function timing(entries: Entry[], faultAt: number): Timing {
  const acks = entries.filter((e) => WRITES.has(e.kind)).map((e) => e.t1).sort((a, b) => a - b);
  const before = acks.filter((t) => t < faultAt);
  let prev = before.length ? before[before.length - 1] : faultAt;
  let gap = -1;
  let end: number | null = null;
  for (const t of acks.filter((t) => t >= faultAt)) {
    if (t - prev > gap) {
      gap = t - prev;
      end = t;
    }
    prev = t;
  }
  const elected = entries.filter((e) => e.kind === "elected" && e.t0 >= faultAt)
    .map((e) => e.t0).sort((a, b) => a - b);
  return {
    firstWriteMs: end === null ? null : end - faultAt,
    outageMs: end === null ? null : gap,
    firstElectedMs: elected.length ? elected[0] - faultAt : null,
    elections: elected.length,
    demotions: entries.filter((e) => e.kind === "demoted" && e.t0 >= faultAt).length,
  };
}
