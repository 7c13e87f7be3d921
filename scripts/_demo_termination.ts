/**
 * The termination step of `deno task demo`: an operator cancels a
 * `prepare_site` task while one of its subtasks runs and another waits in
 * the queue. The queued one is terminated at once and never claimed; the
 * running one's worker sees its `terminationSignal` abort and stops; the
 * demo waits for both with `waitForSubtasks`.
 *
 * Works on the embedded PGlite too: there NOTIFY does not cross
 * connections, and the event log's poll delivers the request.
 */
import type { Sql } from "../src/db.ts";
import { claimNextTask, createTask, requestTermination, updateTask } from "../src/tasks.ts";
import { terminationSignal, waitForSubtasks } from "../src/lifecycle.ts";

/**
 * Runs the termination demo on `sql`'s database.
 *
 * @param sql A pool on a migrated database.
 * @param log Where the demo's lines go.
 * @returns The statuses the two subtasks ended in.
 */
export async function demoTermination(sql: Sql, log: (line: string) => void): Promise<string[]> {
  const site = await createTask(sql, { action: "prepare_site", status: "running" });
  for (const node of ["rack1", "rack2"]) {
    await createTask(sql, {
      action: "prepare_rack",
      status: "queued",
      parentTaskId: site.id,
      nodeFilter: { rack: node },
    });
  }
  const task = (await claimNextTask(sql, { actions: ["prepare_rack"], claimedBy: "worker" }))!;
  const termination = await terminationSignal(sql, task.id);
  // The worker: works in steps until its signal aborts.
  const worker = (async () => {
    let steps = 0;
    while (!termination.signal.aborted) {
      await new Promise((r) => setTimeout(r, 20));
      steps++;
    }
    await updateTask(sql, task.id, {
      status: "terminated",
      result: { status: "failure", reason: "terminated on request" },
    });
    log(`worker stopped prepare_rack rack1 after ${steps} steps: termination was requested`);
  })();
  try {
    await new Promise((r) => setTimeout(r, 100));
    await requestTermination(sql, site.id, { by: "operator" });
    log("operator requested termination of prepare_site (cascades to its subtasks)");
    const subtasks = await waitForSubtasks(sql, site.id, { timeoutMs: 10_000 });
    await worker;
    const statuses = subtasks.map((t) => `${(t.nodeFilter as { rack: string }).rack} ${t.status}`);
    log(`prepare_site subtasks: ${statuses.join(", ")} (rack2 was never claimed)`);
    return subtasks.map((t) => t.status);
  } finally {
    await termination.close();
  }
}
