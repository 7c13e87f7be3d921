/**
 * Tasks: every orchestrator task, queued, running or complete, with its
 * subtasks and result. The orchestrator claims its work from here.
 *
 * This file is the front of `src/tasks/`, one file per concern: `types.ts`
 * (records, inputs, options, `TaskStatus`, `ActionResult`), `read.ts`,
 * `create.ts`, `update.ts`, `subtasks.ts`, `queue.ts` (claims, recovery),
 * `termination.ts` and `retention.ts`; `_schemas.ts` and `_rows.ts` hold
 * the validation and the select lists with their row mapping.
 *
 * @module
 */
export * from "./tasks/types.ts";
export * from "./tasks/read.ts";
export * from "./tasks/create.ts";
export * from "./tasks/update.ts";
export * from "./tasks/subtasks.ts";
export * from "./tasks/queue.ts";
export * from "./tasks/termination.ts";
export * from "./tasks/retention.ts";
export * from "./tasks/complete_and_claim.ts";
