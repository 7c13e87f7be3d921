/**
 * The zod schemas of task inputs and options, built once at import. zod
 * stays inside: the public types are the interfaces of `types.ts`.
 */
import { z } from "zod";
import { action, actor, leaseSchema, pgDate, pgJson, pgText, taskId, uuid } from "../_schemas.ts";
import { ActionResult, TaskStatus } from "./types.ts";

const statuses = Object.values(TaskStatus) as [TaskStatus, ...TaskStatus[]];
const results = Object.values(ActionResult) as [ActionResult, ...ActionResult[]];
const status = z.enum(statuses);
const designRef = pgText(2048).min(1);
const entityList = z.array(pgText(256)).max(100_000);
const retry = z.number().int().min(0).max(1_000_000);
/** A time PostgreSQL's timestamptz can hold, as sent (see `pgDate`). */
export const timestamp = pgDate;
/** How many attempts a task may have. */
export const maxAttempts = z.number().int().min(1).max(1_000_000);

export const taskInput = z.strictObject({
  id: uuid.optional(),
  parentTaskId: uuid.nullish(),
  action,
  status: status.default("requested"),
  designRef: designRef.nullish(),
  nodeFilter: pgJson.optional(),
  requestContext: pgJson.optional(),
  retry: retry.default(0),
  createdBy: actor.nullish(),
  runAfter: timestamp.nullish(),
});
/** A validated {@linkcode taskInput}. */
export type ValidTaskInput = z.output<typeof taskInput>;

export const taskInputs = z.array(taskInput).max(10_000);

export const taskPatch = z.strictObject({
  status: status.optional(),
  result: z.strictObject({
    status: z.enum(results).optional(),
    message: pgText(65_536).nullish(),
    reason: pgText(65_536).nullish(),
    successes: entityList.optional(),
    failures: entityList.optional(),
  }).optional(),
  retry: retry.optional(),
  designRef: designRef.nullish(),
  nodeFilter: pgJson.optional(),
  requestContext: pgJson.optional(),
});
/** A validated {@linkcode taskPatch}. */
export type ValidTaskPatch = z.output<typeof taskPatch>;

export const updateOptions = z.strictObject({
  expectedVersion: z.number().int().positive().optional(),
  lease: leaseSchema.optional(),
});
export const batchUpdateOptions = updateOptions.omit({ expectedVersion: true });

export const listOptions = z.strictObject({
  status: z.union([status, z.array(status).min(1)]).optional(),
  action: action.optional(),
  parentTaskId: uuid.optional(),
  limit: z.number().int().min(1).max(10_000).default(100),
  after: uuid.optional(),
  messages: z.boolean().default(false),
});

export const claimOptions = z.strictObject({
  limit: z.number().int().min(1).max(1000).default(1),
  actions: z.array(action).min(1).max(1000).optional(),
  claimedBy: actor.optional(),
  lease: leaseSchema.optional(),
  maxAttempts: maxAttempts.optional(),
});

export const getOptions = z.strictObject({ messages: z.boolean().default(true) });
export const subtaskOptions = z.strictObject({
  state: z.enum(["all", "active", "complete"]).default("all"),
});
export const taskIds = z.array(taskId).max(10_000);
export const terminationOptions = z.strictObject({
  by: actor.optional(),
  cascade: z.boolean().default(true),
});
/** A staleness threshold: at least 1 ms, at most 30 days. */
export const staleAfterMs = z.number().int().min(1).max(30 * 86_400_000);
export const recoverOptions = z.strictObject({
  to: z.enum(["queued", "failed"]).default("queued"),
  staleAfterMs: staleAfterMs.optional(),
});
export const subtaskLink = z.object({ parent: taskId, child: taskId }).refine(
  (v) => v.parent !== v.child,
  { error: "a task cannot be its own subtask", path: ["child"] },
);
