/**
 * `tasks list`, `tasks show`, `tasks requeue` and `tasks terminate`: a
 * thin layer over `listTasks`/`iterateTasks`, `getTask` with
 * `listSubtasks`, `updateTask` and `requestTermination`.
 *
 * @module
 */
import {
  appendResultMessage,
  getTask,
  iterateTasks,
  listSubtasks,
  listTasks,
  requestTermination,
  type Sql,
  type Task,
  TaskStatus,
  updateTask,
} from "../../mod.ts";
import {
  CliError,
  type Command,
  type CommandContext,
  ExitCode,
  noPositionals,
  onePositional,
  UsageError,
} from "./_command.ts";
import { table, toJson } from "./_format.ts";
import {
  messageLine,
  TASK_HEADER,
  taskDetail,
  taskRow,
  type TaskTree,
  treeLines,
} from "./_render.ts";

const json = { type: "boolean", help: "print JSON instead of text" } as const;
const STATUSES: string[] = Object.values(TaskStatus);
// A tree larger than this is cut, so `show` on a runaway fan-out still answers.
const MAX_TREE = 10_000;

async function runList(ctx: CommandContext): Promise<ExitCode> {
  noPositionals(ctx);
  const filters = listFilters(ctx);
  const tasks = await ctx.withDb(async (sql) => {
    if (!ctx.values.all) return await listTasks(sql, filters);
    const { limit: _, ...rest } = filters;
    const all: Task[] = [];
    for await (const t of iterateTasks(sql, rest)) all.push(t);
    return all;
  });
  if (ctx.values.json) ctx.io.out(toJson(tasks));
  else if (tasks.length === 0) ctx.io.out("no tasks");
  else table(TASK_HEADER, tasks.map(taskRow)).forEach(ctx.io.out);
  return ExitCode.Ok;
}

function listFilters(ctx: CommandContext) {
  const v = ctx.values;
  const status = ((v.status as string[] | undefined) ?? []).flatMap((s) => s.split(","));
  const bad = status.find((s) => !STATUSES.includes(s));
  if (bad) throw new UsageError(`unknown status "${bad}": one of ${STATUSES.join(", ")}`);
  const limit = v.limit === undefined ? 50 : Number(v.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new UsageError(`--limit must be a whole number from 1 to 10000, not "${v.limit}"`);
  }
  return {
    ...(status.length ? { status: status as TaskStatus[] } : {}),
    ...(v.action ? { action: v.action as string } : {}),
    ...(v.parent ? { parentTaskId: v.parent as string } : {}),
    ...(v.after ? { after: v.after as string } : {}),
    limit,
  };
}

async function runShow(ctx: CommandContext): Promise<ExitCode> {
  const id = onePositional(ctx, "task id");
  const { task, tree } = await ctx.withDb(async (sql) => {
    const task = await getTask(sql, id, { messages: true });
    if (!task) throw noTask(id);
    return { task, tree: await subtree(sql, task, { left: MAX_TREE }) };
  });
  if (ctx.values.json) {
    ctx.io.out(toJson({ task, subtasks: tree.subtasks }));
    return ExitCode.Ok;
  }
  const messages = task.messages ?? [];
  const out = ctx.io.out;
  taskDetail(task).forEach(out);
  if (tree.subtasks.length) ["", "tree", ...treeLines(tree).map((l) => `  ${l}`)].forEach(out);
  out("");
  out(`messages (${messages.length}, ${task.result.errorCount} errors)`);
  messages.forEach((m) => out(`  ${messageLine(m)}`));
  return ExitCode.Ok;
}

async function subtree(sql: Sql, task: Task, budget: { left: number }): Promise<TaskTree> {
  const children = budget.left > 0 ? await listSubtasks(sql, task.id) : [];
  budget.left -= children.length;
  const subtasks: TaskTree[] = [];
  for (const child of children) subtasks.push(await subtree(sql, child, budget));
  return { task, subtasks };
}

function noTask(id: string): CliError {
  return new CliError(`no task ${id}`, ExitCode.NotFound);
}

async function runRequeue(ctx: CommandContext): Promise<ExitCode> {
  const id = onePositional(ctx, "task id");
  const by = (ctx.values.by as string | undefined) ?? "cli";
  const task = await ctx.withDb((sql) =>
    sql.begin(async (tx) => {
      const t = await getTask(tx, id, { messages: false });
      if (!t) throw noTask(id);
      if (t.status === "queued") return t;
      refuseRequeue(t, ctx.values.force === true);
      const next = await updateTask(tx, id, {
        status: "queued",
        retry: t.retry + 1,
        result: { status: "incomplete", message: null, reason: null, successes: [], failures: [] },
      }, { expectedVersion: t.version });
      await appendResultMessage(tx, id, {
        message: `requeued from ${t.status} by ${by}`,
        context: by,
        contextType: "operator",
      });
      return next;
    })
  );
  if (ctx.values.json) ctx.io.out(toJson(task));
  else ctx.io.out(`${task.id} queued (retry ${task.retry})`);
  return ExitCode.Ok;
}

function refuseRequeue(t: Task, force: boolean): void {
  if (t.terminate || t.status === "terminated" || t.status === "terminating") {
    throw new CliError(
      `task ${t.id} is ${t.status} with termination requested: it cannot be requeued; ` +
        "create a new task instead",
      ExitCode.Conflict,
    );
  }
  if (t.status === "running" && !force) {
    throw new CliError(
      `task ${t.id} is running (claimed by ${t.claimedBy ?? "unknown"}): a worker may still ` +
        "hold it; run `statemgmt recover --stale-after DURATION` for stale tasks, " +
        "or pass --force",
      ExitCode.Conflict,
    );
  }
}

async function runTerminate(ctx: CommandContext): Promise<ExitCode> {
  const id = onePositional(ctx, "task id");
  const by = (ctx.values.by as string | undefined) ?? "cli";
  const cascade = ctx.values.cascade !== false;
  const task = await ctx.withDb((sql) => requestTermination(sql, id, { by, cascade }));
  if (ctx.values.json) ctx.io.out(toJson(task));
  else {
    ctx.io.out(
      `termination requested for ${task.id}${cascade ? " and its subtasks" : ""}; ` +
        `status ${task.status}`,
    );
  }
  return ExitCode.Ok;
}

/**
 * The `tasks` commands but `tail`.
 *
 * @example Usage
 * ```ts
 * import { tasksCommands } from "./tasks.ts";
 * console.log(tasksCommands.map((c) => c.path.join(" ")));
 * ```
 */
export const tasksCommands: Command[] = [
  {
    path: ["tasks", "list"],
    summary: "list tasks, oldest first, as a table or JSON",
    options: {
      status: { type: "string", multiple: true, value: "STATUS", help: STATUSES.join("|") },
      action: { type: "string", value: "ACTION", help: "only tasks of this action" },
      parent: { type: "string", value: "ID", help: "only subtasks of this task" },
      limit: { type: "string", value: "N", help: "at most N tasks (default 50)" },
      after: { type: "string", value: "ID", help: "start after this task (the next page)" },
      all: { type: "boolean", help: "every matching task, paged through (ignores --limit)" },
      json,
    },
    run: runList,
  },
  {
    path: ["tasks", "show"],
    args: "ID",
    summary: "show a task, its subtask tree and its messages",
    options: { json },
    run: runShow,
  },
  {
    path: ["tasks", "requeue"],
    args: "ID",
    summary: "put a finished (or, with --force, running) task back in the queue",
    description: "Sets it queued with retry + 1 and a fresh, incomplete result, and notes who\n" +
      "requeued it in its messages; a task whose termination was requested is refused.",
    options: {
      force: { type: "boolean", help: "requeue a running task too (its worker may still run it)" },
      by: { type: "string", value: "NAME", help: "who requeues, noted in the task (default cli)" },
      json,
    },
    run: runRequeue,
  },
  {
    path: ["tasks", "terminate"],
    args: "ID",
    summary: "request termination of a task and, unless --no-cascade, its subtasks",
    description: "Queued tasks are terminated at once; running ones are signalled and end\n" +
      "when their worker sees the request.",
    options: {
      cascade: {
        type: "boolean",
        help: "include subtasks (default; --no-cascade: this task only)",
      },
      by: { type: "string", value: "NAME", help: "who asks, recorded on the task (default cli)" },
      json,
    },
    run: runTerminate,
  },
];
