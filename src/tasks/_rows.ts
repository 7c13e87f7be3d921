/**
 * The task select lists and the mapping of their rows, defined together:
 * each {@linkcode TaskSelect} maps exactly the columns it asks for, so no
 * mapping guesses which ones came back.
 */
import { toDate, toDateOrNull } from "../db.ts";
import type { ResultMessage } from "../result_messages.ts";
import type { Task } from "./types.ts";

/** A select list over a task row `t`, and the mapping of the rows it returns. */
export interface TaskSelect {
  /** The select list, static SQL text (spliced in as text: no fragment work per call). */
  readonly sql: string;
  /** Maps one row of this select list. */
  // deno-lint-ignore no-explicit-any
  map(row: any): Task;
}

// Arrays travel as JSON text (see DESIGN.md, pitfalls: text[] parameters
// and results on a fresh postgres.js connection).
const BASE_COLUMNS = `
    t.id, t.parent_task_id, t.action, t.status, t.design_ref, t.node_filter,
    t.request_context, t.retry, t.created_by, t.created, t.updated, t.claimed_by,
    t.claimed_term, t.terminate, t.terminated, t.terminated_by, t.version,
    t.run_after, t.heartbeat_at, t.result_links::text AS result_links, t.result_status, t.result_message, t.result_reason,
    array_to_json(t.result_successes)::text AS result_successes,
    array_to_json(t.result_failures)::text AS result_failures`;
const ERROR_COUNT_COLUMN = `,
    (SELECT count(*) FROM result_messages e WHERE e.task_id = t.id AND e.error) AS error_count`;
const SUBTASKS_COLUMN = `,
    (SELECT json_agg(c.id ORDER BY c.created, c.id)::text
       FROM tasks c WHERE c.parent_task_id = t.id) AS subtask_ids`;
// Messages come as one JSON text of positional arrays: measured faster to
// build and parse than rows of objects or a second statement.
const MESSAGES_COLUMN = `,
    (SELECT json_agg(json_build_array(m.sequence, m.message, m.error, m.context,
                                      m.context_type, m.ts, m.extra) ORDER BY m.sequence)::text
       FROM result_messages m WHERE m.task_id = t.id) AS messages`;

/** A task with its subtask ids and error count, in one statement. */
export const TASK: TaskSelect = {
  sql: BASE_COLUMNS + ERROR_COUNT_COLUMN + SUBTASKS_COLUMN,
  map: (row) => toTask(row, Number(row.error_count)),
};

/**
 * A task with its subtask ids and messages; the error count is counted
 * from the messages at hand instead of by a second subquery.
 */
export const TASK_WITH_MESSAGES: TaskSelect = {
  sql: BASE_COLUMNS + SUBTASKS_COLUMN + MESSAGES_COLUMN,
  map: (row) => {
    const messages = toMessages(row.id, row.messages);
    const task = toTask(row, messages.filter((m) => m.error).length);
    task.messages = messages;
    return task;
  },
};

/** {@linkcode TASK_WITH_MESSAGES} when messages are asked for, else {@linkcode TASK}. */
export function taskSelect(messages: boolean): TaskSelect {
  return messages ? TASK_WITH_MESSAGES : TASK;
}

/** A JSON array sent as text; most are empty, and those skip the parser. */
function jsonList(text: string | null): string[] {
  return text === null || text === "[]" ? [] : JSON.parse(text);
}

// deno-lint-ignore no-explicit-any
function toTask(row: any, errorCount: number): Task {
  return {
    id: row.id,
    parentTaskId: row.parent_task_id,
    action: row.action,
    status: row.status,
    designRef: row.design_ref,
    nodeFilter: row.node_filter,
    requestContext: row.request_context,
    retry: row.retry,
    createdBy: row.created_by,
    created: toDate(row.created),
    updated: toDateOrNull(row.updated),
    claimedBy: row.claimed_by,
    claimedTerm: row.claimed_term === null ? null : Number(row.claimed_term),
    terminate: row.terminate,
    terminated: toDateOrNull(row.terminated),
    terminatedBy: row.terminated_by,
    version: row.version,
    runAfter: toDateOrNull(row.run_after),
    heartbeatAt: toDateOrNull(row.heartbeat_at),
    result: {
      status: row.result_status,
      message: row.result_message,
      reason: row.result_reason,
      successes: jsonList(row.result_successes),
      failures: jsonList(row.result_failures),
      links: row.result_links === "[]" ? [] : JSON.parse(row.result_links),
      errorCount,
    },
    subtaskIds: jsonList(row.subtask_ids),
  };
}

/** The positional arrays of {@linkcode MESSAGES_COLUMN} as messages of task `taskId`. */
function toMessages(taskId: string, text: string | null): ResultMessage[] {
  const list: unknown[][] = text === null ? [] : JSON.parse(text);
  return list.map(([sequence, message, error, context, contextType, ts, extra]) => ({
    sequence: sequence as number,
    taskId,
    message: message as string,
    error: error as boolean,
    context: context as string | null,
    contextType: contextType as string | null,
    ts: toDate(ts),
    extra: extra ?? null,
  }));
}
