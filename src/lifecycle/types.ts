/**
 * The public types of the task lifecycle: options and results of the
 * roll-up, outcomes, retries, rescue, waiting and termination signals.
 *
 * @module
 */
import type { Lease } from "../leadership/types.ts";
import type { Task, TaskResultLink } from "../tasks/types.ts";

/** Options of {@linkcode rollUpResults}. */
export interface RollUpOptions {
  /** Count only the subtasks of this action. */
  action?: string;
  /** Fence the write: it commits only while this lease is the current leadership. */
  lease?: Lease;
}

/** The entities {@linkcode recordResult} appends and votes with. */
export interface RecordResultInput {
  /** Entities the task succeeded on: each a success vote. */
  successes?: string[];
  /** Entities the task failed on: each a failure vote. */
  failures?: string[];
  /** Links about the result, appended unless already there. */
  links?: TaskResultLink[];
}

/** Options of {@linkcode recordResult} and {@linkcode heartbeatTask}. */
export interface LeaseOptions {
  /** Fence the write: it commits only while this lease is the current leadership. */
  lease?: Lease;
}

/** Options of {@linkcode retryTask}. */
export interface RetryTaskOptions {
  /**
   * Retry only while the task's `retry` is below this.
   * @default the `maxAttempts` it was claimed with, else no maximum
   */
  maxAttempts?: number;
  /**
   * How long the task waits before it is claimable again (ms): a number,
   * or a function of the task's `retry` before this one.
   * @default exponential from 1 s, ±25 % jitter, capped at 5 minutes
   */
  backoffMs?: number | ((retry: number) => number);
  /** Fence the write: it commits only while this lease is the current leadership. */
  lease?: Lease;
}

/** What {@linkcode retryTask} returns. */
export interface RetryResult {
  /** Whether the task was queued again. */
  retried: boolean;
  /** The task after the call. */
  task: Task;
}

/** Options of {@linkcode rescueStaleTasks}. */
export interface RescueStaleTasksOptions {
  /** Running tasks whose heartbeat is older than this many ms are rescued. */
  staleAfterMs: number;
  /**
   * `"queued"` returns them to the queue (retry + 1); `"failed"` completes
   * them with a failure result.
   * @default "queued"
   */
  to?: "queued" | "failed";
  /**
   * Who rescues, recorded on the notes.
   * @default "rescue"
   */
  by?: string;
}

/** Options of {@linkcode waitForTask}. */
export interface WaitOptions {
  /** Aborting it rejects the wait with its reason. */
  signal?: AbortSignal;
  /** Reject with a `StateError` of code `timeout` after this many ms. */
  timeoutMs?: number;
  /**
   * How often the event log is read besides its wake-ups (ms), as for `watchTasks`.
   * @default watchTasks' default
   */
  pollMs?: number;
}

/** Options of {@linkcode waitForSubtasks}. */
export interface WaitForSubtasksOptions extends WaitOptions {
  /** Wait only for the subtasks of this action. */
  action?: string;
}

/** What {@linkcode terminationSignal} returns. */
export interface TerminationSignal {
  /** Aborted (with a `StateError` of code `termination_requested`) once termination is requested. */
  readonly signal: AbortSignal;
  /** Stops watching; the signal stays as it is. */
  close(): Promise<void>;
}
