/**
 * `recover --stale-after 10m`: returns running tasks whose heartbeat is
 * older than that to the queue (or fails them, `--to failed`), through
 * `rescueStaleTasks` — the leaderless form of the elector's recovery.
 *
 * @module
 */
import { rescueStaleTasks } from "../../mod.ts";
import {
  type Command,
  type CommandContext,
  ExitCode,
  noPositionals,
  UsageError,
} from "./_command.ts";
import { table, toJson } from "./_format.ts";
import { durationOption } from "./_options.ts";
import { TASK_HEADER, taskRow } from "./_render.ts";

async function runRecover(ctx: CommandContext): Promise<ExitCode> {
  noPositionals(ctx);
  const staleAfterMs = durationOption(ctx, "stale-after");
  if (staleAfterMs === null) throw new UsageError("missing --stale-after DURATION, e.g. 10m");
  const to = (ctx.values.to as string | undefined) ?? "queued";
  if (to !== "queued" && to !== "failed") {
    throw new UsageError(`--to takes queued or failed, not "${to}"`);
  }
  const tasks = await ctx.withDb((sql) => rescueStaleTasks(sql, { staleAfterMs, to }));
  if (ctx.values.json) ctx.io.out(toJson(tasks));
  else if (tasks.length === 0) ctx.io.out("no stale tasks");
  else {
    table(TASK_HEADER, tasks.map(taskRow)).forEach(ctx.io.out);
    ctx.io.out(`${tasks.length} stale task(s) ${to === "failed" ? "failed" : "requeued"}`);
  }
  return ExitCode.Ok;
}

/**
 * The `recover` command.
 *
 * @example Usage
 * ```ts
 * import { recoverCommands } from "./recover.ts";
 * console.log(recoverCommands[0].summary);
 * ```
 */
export const recoverCommands: Command[] = [{
  path: ["recover"],
  summary: "requeue (or fail) running tasks whose heartbeat is older than --stale-after",
  description: "For a worker that died without its leader noticing. Each rescued task gets\n" +
    "retry + 1 (or a failure result with --to failed) and a message saying why.",
  options: {
    "stale-after": {
      type: "string",
      value: "DURATION",
      help: "heartbeat older than this, e.g. 10m, 30s, 2h (required)",
    },
    to: { type: "string", value: "queued|failed", help: "where stale tasks go (default queued)" },
    json: { type: "boolean", help: "print the rescued tasks as JSON" },
  },
  run: runRecover,
}];
