/**
 * `tasks tail ID`: follows a task's messages and status live until it
 * finishes. Changes of status arrive through `watchTasks` (the durable
 * event log); messages, which are not events, are read after each wake-up
 * and every `--poll` interval.
 *
 * @module
 */
import process from "node:process";
import {
  getTask,
  listResultMessages,
  type ResultMessage,
  type Sql,
  type Task,
  watchTasks,
} from "../../mod.ts";
import {
  CliError,
  type Command,
  type CommandContext,
  ExitCode,
  onePositional,
} from "./_command.ts";
import { formatDuration } from "./_format.ts";
import { messageLine, statusText } from "./_render.ts";
import { durationOption } from "./_options.ts";

/** Exit code of a tail stopped by Ctrl-C, as shells report SIGINT. */
const INTERRUPTED = 130;

interface Follow {
  id: string;
  pollMs: number;
  deadline: number;
  signal: AbortSignal;
  emit(kind: "message" | "status", text: string, data: unknown): void;
}

async function runTail(ctx: CommandContext): Promise<ExitCode> {
  const id = onePositional(ctx, "task id");
  const pollMs = durationOption(ctx, "poll") ?? 1000;
  const timeoutMs = durationOption(ctx, "timeout");
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on("SIGINT", onSigint);
  const json = ctx.values.json === true;
  const follow: Follow = {
    id,
    pollMs,
    deadline: timeoutMs === null ? Infinity : performance.now() + timeoutMs,
    signal: stop.signal,
    emit: (kind, text, data) =>
      ctx.io.out(json ? JSON.stringify({ kind, ...data as object }) : text),
  };
  try {
    const task = await ctx.withDb((sql) => followTask(sql, follow));
    if (stop.signal.aborted) return INTERRUPTED as ExitCode;
    if (!task) {
      throw new CliError(
        `timed out after ${formatDuration(timeoutMs!)}: task ${id} is still unfinished`,
        ExitCode.Failure,
      );
    }
    return ExitCode.Ok;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/** Follows until the task finishes (→ the task), the deadline passes or the signal aborts (→ null). */
async function followTask(sql: Sql, f: Follow): Promise<Task | null> {
  const wake = waker();
  // Subscribe before the first read, so no change falls between the two.
  const watch = await watchTasks(sql, (event) => {
    if (event.taskId === f.id) wake.fire();
  });
  try {
    let last = 0;
    let status = "";
    for (;;) {
      const task = await getTask(sql, f.id, { messages: false });
      if (!task) throw new CliError(`no task ${f.id}`, ExitCode.NotFound);
      last = printMessages(await listResultMessages(sql, f.id, { afterSequence: last }), f, last);
      if (statusText(task) !== status) {
        const text = `${status ? `status ${status} → ` : `task ${task.id} ${task.action}: `}` +
          `${statusText(task)} (result ${task.result.status})`;
        f.emit("status", text, { status: task.status, result: task.result.status });
        status = statusText(task);
      }
      if (task.status === "complete" || task.status === "terminated") return task;
      const left = f.deadline - performance.now();
      if (left <= 0 || f.signal.aborted) return null;
      await wake.wait(Math.min(f.pollMs, left), f.signal);
    }
  } finally {
    await watch.unlisten();
  }
}

function printMessages(messages: ResultMessage[], f: Follow, last: number): number {
  for (const m of messages) f.emit("message", messageLine(m), { message: m });
  return messages.at(-1)?.sequence ?? last;
}

/** A wake-up that is not lost when it fires before anyone waits. */
function waker() {
  let pending = false;
  let resolve: (() => void) | null = null;
  return {
    fire() {
      pending = true;
      resolve?.();
    },
    wait(ms: number, signal: AbortSignal): Promise<void> {
      if (pending || signal.aborted) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((done) => {
        const finish = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", finish);
          resolve = null;
          pending = false;
          done();
        };
        const timer = setTimeout(finish, ms);
        signal.addEventListener("abort", finish);
        resolve = finish;
      });
    },
  };
}

/**
 * The `tasks tail` command.
 *
 * @example Usage
 * ```ts
 * import { tailCommands } from "./tail.ts";
 * console.log(tailCommands[0].path.join(" ")); // "tasks tail"
 * ```
 */
export const tailCommands: Command[] = [{
  path: ["tasks", "tail"],
  args: "ID",
  summary: "follow a task's messages and status live until it is complete or terminated",
  description: "Exits 0 once the task has finished (whatever its result), 1 on --timeout,\n" +
    "130 on Ctrl-C. With --json, one JSON object a line: {kind: message|status, …}.",
  options: {
    poll: { type: "string", value: "DURATION", help: "read new messages this often (default 1s)" },
    timeout: { type: "string", value: "DURATION", help: "give up after this long, e.g. 10m" },
    json: { type: "boolean", help: "print one JSON object a line" },
  },
  run: runTail,
}];
