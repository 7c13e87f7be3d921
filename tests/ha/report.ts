/**
 * The suite's output: a few plain lines per scenario with the figures the
 * README quotes, and the closing `N passed, N failed` line CI reads.
 *
 * @module
 */
import type { Result } from "./scenario_run.ts";

const s = (ms: number | null) => ms === null ? "never" : `${(ms / 1000).toFixed(1)} s`;

/** The lines describing one scenario's result. */
export function formatResult(r: Result): string {
  const sc = r.scenario;
  const verdict = sc.mustPass ? (r.passed ? "PASS" : "FAIL") : "MEASURED";
  const lines = [`scenario ${sc.n}: ${sc.title} — ${verdict} (${r.seconds.toFixed(0)} s)`];
  const f = r.findings;
  if (f) {
    lines.push(
      `  acknowledged writes ${f.acked}, lost ${f.lost}; duplicated completions ${f.duplicatedCompletions}; ` +
        `term regressions ${f.termRegressions}; stale fenced commits ${f.staleFencedCommits}`,
      `  events ${f.eventsInDb} on the new primary: missed ${f.eventsMissed}, duplicated ${f.eventsDuplicated}, ` +
        `out of order ${f.eventsOutOfOrder}, seen but not on the new primary ${f.eventsPhantom}`,
      `  terms elected ${
        f.termsSeen.join(",") || "none"
      }, final term ${f.finalTerm}; tasks completed ` +
        `${f.completed}, left running ${f.stillRunning}; creates in doubt ${f.createsInDoubt}; ` +
        `failed calls ${f.failedCalls}, slowest failure ${s(f.slowestFailureMs)}`,
    );
    for (const x of f.lostExamples) lines.push(`  lost: ${x}`);
    for (const x of f.termRegressionNotes) lines.push(`  term: ${x}`);
  }
  const t = r.timing;
  if (t) {
    lines.push(
      `  fault → first write ${s(t.firstWriteMs)} (longest pause ${s(t.outageMs)}), ` +
        `fault → first elected ${
          t.firstElectedMs === null ? "none (the lease survived)" : s(t.firstElectedMs)
        }; ` +
        `target < ${s(sc.targetMs)} ${
          r.targetsMissed.length ? "MISSED" : "met"
        }; elections ${t.elections}, demotions ${t.demotions}`,
    );
  }
  if (r.rejoin) {
    lines.push(
      `  old primary ${r.rejoin.ok ? "back" : "NOT back"} ${
        r.rejoin.seconds.toFixed(1)
      } s after restore: ` +
        `${r.rejoin.detail}; pg_rewind: ${r.rejoin.rewind ?? "not needed"}`,
    );
  }
  if (r.error) lines.push(`  error: ${r.error}`);
  if (!r.passed) {
    const label = sc.mustPass ? "failed" : "would fail a must-pass scenario";
    for (const why of r.reasons) lines.push(`  ${label}: ${why}`);
  }
  return lines.join("\n");
}

/** The closing lines: scenario 4 is reported, never counted; then `N passed, N failed`. */
export function summary(results: Result[]): { text: string; failed: number } {
  const counted = results.filter((r) => r.scenario.mustPass);
  const passed = counted.filter((r) => r.passed).length;
  const failed = counted.length - passed;
  const measured = results.filter((r) => !r.scenario.mustPass)
    .map((r) => `scenario ${r.scenario.n} is a measurement, not counted`);
  const missed = counted.filter((r) => r.targetsMissed.length).map((r) => r.scenario.n);
  const targets = `time targets (reported, not failed on): ${
    missed.length ? `missed by scenario ${missed.join(", ")}` : "met by every counted scenario"
  }`;
  return { text: [...measured, targets, `${passed} passed, ${failed} failed`].join("\n"), failed };
}
