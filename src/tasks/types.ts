/**
 * The public types of tasks: records, inputs, options, and the
 * `TaskStatus` / `ActionResult` constants. No code and no SQL, so any
 * file may import them without pulling in the queries.
 *
 * @module
 */
import type { Lease } from "../leadership/types.ts";
import type { ResultMessage } from "../result_messages.ts";

/** The states of a task, as a const object: `TaskStatus.Queued` is `"queued"`. */
export const TaskStatus = {
  Requested: "requested",
  Queued: "queued",
  Running: "running",
  Terminating: "terminating",
  Terminated: "terminated",
  Complete: "complete",
} as const;
/** One of the {@linkcode TaskStatus} values. */
export type TaskStatus = typeof TaskStatus[keyof typeof TaskStatus];

/** The outcome of a task or boot action: `ActionResult.Success` is `"success"`. */
export const ActionResult = {
  Incomplete: "incomplete",
  Success: "success",
  PartialSuccess: "partial_success",
  Failure: "failure",
  Unreported: "unreported",
} as const;
/** One of the {@linkcode ActionResult} values. */
export type ActionResult = typeof ActionResult[keyof typeof ActionResult];

/** A task's result. */
export interface TaskResult {
  /** The outcome so far. */
  status: ActionResult;
  /** A summary message. */
  message: string | null;
  /** Why it ended as it did. */
  reason: string | null;
  /** Entities (e.g. node names) the task succeeded on. */
  successes: string[];
  /** Entities the task failed on. */
  failures: string[];
  /** Links about the result (Drydock's result links, e.g. a node's deployment log). */
  links: TaskResultLink[];
  /** How many of the task's result messages are errors (derived). */
  errorCount: number;
}

/** A link recorded on a task's result: what it is (`rel`) and where (`href`). */
export interface TaskResultLink {
  /** What the link is, e.g. `"log"`. */
  rel: string;
  /** Where it points. */
  href: string;
}

/** A task as stored, with its subtask ids and, when asked for, its messages. */
export interface Task {
  /** The task's UUID. */
  id: string;
  /** The parent task, for a subtask. */
  parentTaskId: string | null;
  /** What the task does: a lowercase identifier such as `"deploy_nodes"`. */
  action: string;
  /** Where it is in its life. */
  status: TaskStatus;
  /** The URI of the site design it works on. */
  designRef: string | null;
  /** Which nodes it applies to (any JSON). */
  nodeFilter: unknown | null;
  /** The context of the request that created it (any JSON). */
  requestContext: unknown | null;
  /** How often it was retried (recovery after a lost leader counts too). */
  retry: number;
  /** Who created it. */
  createdBy: string | null;
  /** When it was created (database clock). */
  created: Date;
  /** When it was last written, or `null` if never since creation. */
  updated: Date | null;
  /** Who claimed it last. */
  claimedBy: string | null;
  /** The leader's term (fencing token) when it was claimed with a lease. */
  claimedTerm: number | null;
  /** Whether termination was requested. */
  terminate: boolean;
  /** When termination was requested. */
  terminated: Date | null;
  /** Who requested termination. */
  terminatedBy: string | null;
  /** Grows by one on every write; pass it as `expectedVersion` to update safely. */
  version: number;
  /** Not claimable before this time (a retry's back-off, or a schedule); `null`: at once. */
  runAfter: Date | null;
  /** When its claimer last showed it is alive (set by claims and {@linkcode heartbeatTask}). */
  heartbeatAt: Date | null;
  /** The result so far. */
  result: TaskResult;
  /** The ids of its subtasks, oldest first (derived from their parent ids). */
  subtaskIds: string[];
  /** Its result messages, oldest first, when they were asked for. */
  messages?: ResultMessage[];
}

/** What {@linkcode createTask} takes. */
export interface TaskInput {
  /**
   * The task's UUID.
   * @default a random UUID
   */
  id?: string;
  /** The parent task, making this a subtask. */
  parentTaskId?: string | null;
  /** What the task does: a lowercase identifier of at most 64 characters. */
  action: string;
  /**
   * The initial status.
   * @default "requested"
   */
  status?: TaskStatus;
  /** The URI of the site design (at most 2,048 characters). */
  designRef?: string | null;
  /** Which nodes it applies to (any JSON). */
  nodeFilter?: unknown;
  /** The context of the request (any JSON). */
  requestContext?: unknown;
  /**
   * Retry count.
   * @default 0
   */
  retry?: number;
  /** Who creates it (at most 256 characters). */
  createdBy?: string | null;
  /** Not claimable before this time. */
  runAfter?: Date | null;
}

/** The result fields {@linkcode updateTask} may replace; the others stay. */
export interface TaskResultPatch {
  /** The outcome. */
  status?: ActionResult;
  /** A summary message. */
  message?: string | null;
  /** Why it ended as it did. */
  reason?: string | null;
  /** Entities it succeeded on (replaces the list). */
  successes?: string[];
  /** Entities it failed on (replaces the list). */
  failures?: string[];
}

/** The fields {@linkcode updateTask} may change; the fields given replace their values. */
export interface TaskPatch {
  /** The new status. */
  status?: TaskStatus;
  /** Result fields to replace. */
  result?: TaskResultPatch;
  /** The retry count. */
  retry?: number;
  /** The design URI. */
  designRef?: string | null;
  /** The node filter (any JSON). */
  nodeFilter?: unknown;
  /** The request context (any JSON). */
  requestContext?: unknown;
}

/** Options of {@linkcode updateTask}. */
export interface UpdateTaskOptions {
  /** Refuse the write with a `ConflictError` unless the task is at this version. */
  expectedVersion?: number;
  /** Fence the write: it commits only while this lease is the current leadership. */
  lease?: Lease;
}

/** Options of {@linkcode getTask}. */
export interface GetTaskOptions {
  /**
   * Attach the task's result messages.
   * @default true
   */
  messages?: boolean;
}

/** Filters and paging of {@linkcode listTasks}. */
export interface ListTasksOptions {
  /** Only tasks in this status (or any of these). */
  status?: TaskStatus | TaskStatus[];
  /** Only tasks of this action. */
  action?: string;
  /** Only subtasks of this task. */
  parentTaskId?: string;
  /**
   * At most this many tasks (1–10,000).
   * @default 100
   */
  limit?: number;
  /**
   * Keyset cursor: only tasks after this task, in (created, id) order. The
   * task must still exist (else `NotFoundError`); {@linkcode iterateTasks}
   * keeps the values themselves, so deletions do not stop it.
   */
  after?: string;
  /**
   * Attach each task's result messages (still one statement).
   * @default false
   */
  messages?: boolean;
}

/** Options of {@linkcode listSubtasks}. */
export interface ListSubtasksOptions {
  /**
   * `"active"`: not terminated or complete; `"complete"`: terminated or complete.
   * @default "all"
   */
  state?: "all" | "active" | "complete";
}

/** Options of {@linkcode claimNextTask} and {@linkcode claimTasks}. */
export interface ClaimOptions {
  /** Only tasks of these actions. */
  actions?: string[];
  /**
   * Who claims, recorded on the task.
   * @default the lease's holder, else `null`
   */
  claimedBy?: string;
  /** Claim as the leader: fenced by the lease, and its term is recorded on the tasks. */
  lease?: Lease;
  /**
   * Stored on the claimed tasks: recovery of a task whose worker is gone
   * fails it instead of requeueing once its `retry` has reached this, and
   * {@linkcode retryTask} uses it when given no `maxAttempts` of its own.
   */
  maxAttempts?: number;
}

/** Options of {@linkcode claimTasks}. */
export interface ClaimTasksOptions extends ClaimOptions {
  /** At most this many tasks (1–1,000). */
  limit: number;
}

/** Options of {@linkcode recoverTasks}. */
export interface RecoverTasksOptions {
  /**
   * `"queued"` returns the tasks to the queue (retry + 1); `"failed"` completes
   * them with a failure result.
   * @default "queued"
   */
  to?: "queued" | "failed";
  /**
   * Also recover running tasks of any term (unleased ones included) whose
   * heartbeat is older than this many milliseconds.
   */
  staleAfterMs?: number;
}

/** Options of {@linkcode requestTermination}. */
export interface RequestTerminationOptions {
  /** Who asks. */
  by?: string;
  /**
   * Also mark every descendant that is not finished.
   * @default true
   */
  cascade?: boolean;
}

/** Options of {@linkcode iterateTasks}. */
export interface IterateTasksOptions extends Omit<ListTasksOptions, "limit"> {
  /**
   * Tasks read per statement (1–10,000); 500 keeps a million-task stream
   * under 200 MB of process memory at near full speed.
   * @default 500
   */
  pageSize?: number;
}
