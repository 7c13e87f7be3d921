/**
 * The task lifecycle, owned by the module: result roll-up, outcome votes,
 * retries with back-off, stuck-task rescue, waiting for tasks and
 * termination signals. Built on `src/tasks/` and the task-event log.
 *
 * This file is the front of `src/lifecycle/`, one file per concern:
 * `roll_up.ts`, `outcome.ts`, `retry.ts`, `rescue.ts`, `wait.ts` and
 * `termination_signal.ts`; `types.ts` holds their options and results.
 * `requestTermination` (the cascade) lives with the other task writes, in
 * `src/tasks/termination.ts`.
 *
 * @module
 */
export * from "./lifecycle/types.ts";
export * from "./lifecycle/roll_up.ts";
export { recordResult } from "./lifecycle/outcome.ts";
export { retryTask } from "./lifecycle/retry.ts";
export * from "./lifecycle/rescue.ts";
export * from "./lifecycle/wait.ts";
export * from "./lifecycle/termination_signal.ts";
