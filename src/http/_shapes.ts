/**
 * Our records as Drydock's JSON dicts, field for field: `Task.to_dict()`,
 * `TaskStatus.to_dict()` (with `details.errorCount` and
 * `details.messageList`), `TaskStatusMessage.to_dict()` and
 * `BuildData.to_dict()`. Times are ISO 8601 strings (Drydock printed
 * Python's `str(datetime)`); JSON fields stay JSON.
 *
 * @module
 */
import type { BootAction } from "../boot_actions.ts";
import type { BuildData } from "../build_data.ts";
import type { ResultMessage } from "../result_messages.ts";
import type { Task, TaskResult } from "../tasks.ts";

/** `TaskStatusMessage.to_dict()`. */
export interface MessageDict {
  message: string;
  error: boolean;
  context_type: string | null;
  context: string | null;
  ts: string;
  extra: unknown;
}

/** `TaskStatus.to_dict()`. */
export interface StatusDict {
  kind: "Status";
  apiVersion: "v1.0";
  metadata: Record<string, never>;
  message: string | null;
  reason: string | null;
  status: string;
  successes: string[];
  failures: string[];
  links: { rel: string; href: string }[];
  details: { errorCount: number; messageList: MessageDict[] };
}

/** `Task.to_dict()`. */
export interface TaskDict {
  kind: "Task";
  apiVersion: "v1";
  task_id: string;
  action: string;
  parent_task_id: string | null;
  design_ref: string | null;
  status: string;
  result: StatusDict;
  node_filter: unknown;
  subtask_id_list: string[];
  created: string;
  created_by: string | null;
  updated: string | null;
  terminated: string | null;
  terminated_by: string | null;
  terminate: boolean;
  retry: number;
  build_data?: BuildDataDict[];
}

/** `BuildData.to_dict()` (verbosity 2: with the data element). */
export interface BuildDataDict {
  node_name: string;
  task_id: string;
  collected_date: string;
  generator: string;
  data_format: string;
  data_element?: string;
}

const iso = (d: Date | null): string | null => d === null ? null : d.toISOString();

/** A result message as Drydock's dict; `extra` is `{}` when none, as Drydock's kwargs were. */
export function messageDict(m: ResultMessage): MessageDict {
  return {
    message: m.message,
    error: m.error,
    context_type: m.contextType,
    context: m.context,
    ts: m.ts.toISOString(),
    extra: m.extra ?? {},
  };
}

/** A task's result and messages as Drydock's status dict. */
export function statusDict(result: TaskResult, messages: ResultMessage[] = []): StatusDict {
  return {
    kind: "Status",
    apiVersion: "v1.0",
    metadata: {},
    message: result.message,
    reason: result.reason,
    status: result.status,
    successes: result.successes,
    failures: result.failures,
    // `links` arrives with the lifecycle work; older records have none.
    links: (result as { links?: { rel: string; href: string }[] }).links ?? [],
    details: { errorCount: result.errorCount, messageList: messages.map(messageDict) },
  };
}

/** A task (read with its messages) as Drydock's dict. */
export function taskDict(task: Task): TaskDict {
  return {
    kind: "Task",
    apiVersion: "v1",
    task_id: task.id,
    action: task.action,
    parent_task_id: task.parentTaskId,
    design_ref: task.designRef,
    status: task.status,
    result: statusDict(task.result, task.messages),
    node_filter: task.nodeFilter,
    subtask_id_list: task.subtaskIds,
    created: task.created.toISOString(),
    created_by: task.createdBy,
    updated: iso(task.updated),
    terminated: iso(task.terminated),
    terminated_by: task.terminatedBy,
    terminate: task.terminate,
    retry: task.retry,
  };
}

/** A build-data record as Drydock's dict. */
export function buildDataDict(b: BuildData): BuildDataDict {
  const dict: BuildDataDict = {
    node_name: b.nodeName,
    task_id: b.taskId,
    collected_date: b.collectedDate.toISOString(),
    generator: b.generator,
    data_format: b.dataFormat,
  };
  if (b.dataElement !== undefined) dict.data_element = b.dataElement;
  return dict;
}

/** A boot action as Drydock's boot-action report answer: the row without its identity key. */
export function bootActionDict(a: BootAction): Record<string, string> {
  return {
    action_id: a.actionId,
    node_name: a.nodeName,
    action_name: a.actionName,
    task_id: a.taskId,
    action_status: a.status,
  };
}
