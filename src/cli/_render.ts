/**
 * How the CLI prints tasks and messages: the list's row, the detail view,
 * the subtask tree and a message line.
 *
 * @module
 */
import type { ResultMessage, Task } from "../../mod.ts";
import { clip, formatTime, table } from "./_format.ts";

/** The columns of `tasks list`. */
export const TASK_HEADER = ["ID", "ACTION", "STATUS", "RESULT", "RETRY", "ERRORS", "CREATED"];

/**
 * One row of `tasks list`.
 *
 * @param t The task.
 * @returns Its cells, in {@linkcode TASK_HEADER} order.
 *
 * @example Usage
 * ```ts ignore
 * table(TASK_HEADER, tasks.map(taskRow));
 * ```
 */
export function taskRow(t: Task): string[] {
  return [
    t.id,
    t.action,
    statusText(t),
    t.result.status,
    String(t.retry),
    String(t.result.errorCount),
    formatTime(t.created),
  ];
}

/**
 * A task's status, with a pending termination shown: `running (terminating)`.
 *
 * @param t The task.
 * @returns The text.
 *
 * @example Usage
 * ```ts ignore
 * console.log(statusText(task));
 * ```
 */
export function statusText(t: Task): string {
  const finished = t.status === "complete" || t.status === "terminated";
  return t.terminate && !finished ? `${t.status} (terminating)` : t.status;
}

/**
 * The detail view of `tasks show`: one field a line.
 *
 * @param t The task.
 * @returns The lines.
 *
 * @example Usage
 * ```ts ignore
 * taskDetail(task).forEach((l) => console.log(l));
 * ```
 */
export function taskDetail(t: Task): string[] {
  const r = t.result;
  const fields: [string, string | null][] = [
    ["id", t.id],
    ["action", t.action],
    ["status", statusText(t)],
    ["result", r.status + (r.message ? `: ${r.message}` : "")],
    ["reason", r.reason],
    ["successes", r.successes.length ? r.successes.join(", ") : null],
    ["failures", r.failures.length ? r.failures.join(", ") : null],
    ["parent", t.parentTaskId],
    ["retry", String(t.retry)],
    ["design ref", t.designRef],
    ["created", `${formatTime(t.created)}${t.createdBy ? ` by ${t.createdBy}` : ""}`],
    ["updated", t.updated ? formatTime(t.updated) : null],
    ["run after", t.runAfter ? formatTime(t.runAfter) : null],
    ["claimed by", claimText(t)],
    ["heartbeat", t.heartbeatAt ? formatTime(t.heartbeatAt) : null],
    ["terminated", terminationText(t)],
    ["version", String(t.version)],
  ];
  return table(null, fields.filter(([, v]) => v !== null).map(([k, v]) => [k, v!]));
}

function claimText(t: Task): string | null {
  if (t.claimedBy === null && t.claimedTerm === null) return null;
  return `${t.claimedBy ?? "-"}${t.claimedTerm !== null ? ` (term ${t.claimedTerm})` : ""}`;
}

function terminationText(t: Task): string | null {
  if (!t.terminate && !t.terminated) return null;
  return `${formatTime(t.terminated)}${t.terminatedBy ? ` by ${t.terminatedBy}` : ""}`;
}

/** A task in a tree: the task and its subtrees. */
export interface TaskTree {
  /** The task. */
  task: Task;
  /** Its subtasks' trees, oldest first. */
  subtasks: TaskTree[];
}

/**
 * The tree view of `tasks show`, drawn with box characters.
 *
 * @param tree The root and its subtrees.
 * @returns The lines.
 *
 * @example Usage
 * ```ts ignore
 * treeLines(tree).forEach((l) => console.log(l));
 * ```
 */
export function treeLines(tree: TaskTree): string[] {
  const out: string[] = [];
  const walk = (node: TaskTree, prefix: string, branch: string) => {
    const t = node.task;
    out.push(`${prefix}${branch}${t.id}  ${t.action}  ${statusText(t)}  ${t.result.status}`);
    const next = prefix + (branch === "├─ " ? "│  " : branch === "└─ " ? "   " : "");
    node.subtasks.forEach((s, i) => walk(s, next, i === node.subtasks.length - 1 ? "└─ " : "├─ "));
  };
  walk(tree, "", "");
  return out;
}

/**
 * One message line: `#12  2026-12-01 23:14:05Z  error  node01 failed  (node01)`.
 *
 * @param m The message.
 * @returns The line.
 *
 * @example Usage
 * ```ts ignore
 * task.messages?.forEach((m) => console.log(messageLine(m)));
 * ```
 */
export function messageLine(m: ResultMessage): string {
  const context = m.context ? `  (${m.contextType ? `${m.contextType} ` : ""}${m.context})` : "";
  return `#${m.sequence}  ${formatTime(m.ts)}  ${m.error ? "error" : "info "}  ` +
    `${clip(m.message, 200)}${context}`;
}
