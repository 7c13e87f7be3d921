/**
 * Result messages: the detailed, sequenced messages a task produces.
 *
 * @module
 */
import { z } from "zod";
import { type Db, jsonParam, query, toResultMessage } from "./db.ts";
import { NotFoundError } from "./errors.ts";
import { parse } from "./_validation.ts";
import { taskId } from "./_schemas.ts";

/** One message of a task's result, in the order it was appended. */
export interface ResultMessage {
  /** Position in the task's history; strictly increasing per task. */
  sequence: number;
  /** The task the message belongs to. */
  taskId: string;
  /** The message text. */
  message: string;
  /** Whether the message reports an error (counted in `errorCount`). */
  error: boolean;
  /** What the message is about, e.g. a node name. */
  context: string | null;
  /** The kind of `context`, e.g. `"node"`. */
  contextType: string | null;
  /** When it happened (database clock unless given). */
  ts: Date;
  /** Any JSON detail. */
  extra: unknown | null;
}

/** A message to append to a task. */
export interface ResultMessageInput {
  /** The message text (at most 65,536 characters). */
  message: string;
  /**
   * Whether it reports an error.
   * @default false
   */
  error?: boolean;
  /** What the message is about, e.g. a node name (at most 1,024 characters). */
  context?: string | null;
  /** The kind of `context` (at most 64 characters). */
  contextType?: string | null;
  /**
   * When it happened.
   * @default the database's clock
   */
  ts?: Date;
  /** Any JSON detail. */
  extra?: unknown;
}

/** Options of {@linkcode listResultMessages}. */
export interface ListResultMessagesOptions {
  /** Only messages with a larger sequence: pass the last one seen to page or tail. */
  afterSequence?: number;
  /**
   * At most this many messages (1–10,000).
   * @default 1000
   */
  limit?: number;
}

const messageInput = z.strictObject({
  message: z.string().max(65_536),
  error: z.boolean().default(false),
  context: z.string().max(1024).nullish(),
  contextType: z.string().max(64).nullish(),
  ts: z.date().optional(),
  extra: z.json().optional(),
});

const batchInput = z.array(messageInput.extend({ taskId })).max(10_000);

const listOptions = z.strictObject({
  afterSequence: z.number().int().nonnegative().optional(),
  limit: z.number().int().min(1).max(10_000).default(1000),
});

const APPEND = `
    WITH task AS (SELECT id FROM tasks WHERE id = $1::uuid FOR NO KEY UPDATE)
    INSERT INTO result_messages (task_id, message, error, context, context_type, ts, extra)
    SELECT task.id, $2::text, $3::boolean, $4::text, $5::text,
           coalesce($6::timestamptz, clock_timestamp()), $7::text::jsonb
    FROM task
    RETURNING sequence, task_id, message, error, context, context_type, ts, extra`;

/**
 * Appends a message to a task. Appends to one task are serialised on the
 * task's row, so sequences are assigned in commit order: a reader paging
 * with `afterSequence` never skips a message committed later.
 *
 * @param db A pool or transaction.
 * @param id The task's id.
 * @param input The message.
 * @returns The stored message with its sequence.
 * @throws {ValidationError} Bad input; nothing written.
 * @throws {NotFoundError} No such task.
 *
 * @example Usage
 * ```ts ignore
 * await appendResultMessage(sql, task.id, { message: "node01 deployed", context: "node01" });
 * ```
 */
export async function appendResultMessage(
  db: Db,
  id: string,
  input: ResultMessageInput,
): Promise<ResultMessage> {
  const tid = parse(taskId, id);
  const m = parse(messageInput, input);
  const [row] = await query(db, APPEND, [
    tid,
    m.message,
    m.error,
    m.context ?? null,
    m.contextType ?? null,
    m.ts ?? null,
    jsonParam(m.extra),
  ]);
  if (!row) throw new NotFoundError("task", tid);
  return toResultMessage(row);
}

/**
 * Lists a task's messages in sequence order. A task without messages, or
 * no task at all, gives `[]`.
 *
 * @param db A pool or transaction.
 * @param id The task's id.
 * @param opts Paging.
 * @returns The messages, oldest first.
 * @throws {ValidationError} Bad input.
 *
 * @example Usage
 * ```ts ignore
 * const page = await listResultMessages(sql, task.id, { afterSequence: last, limit: 100 });
 * ```
 */
export async function listResultMessages(
  db: Db,
  id: string,
  opts: ListResultMessagesOptions = {},
): Promise<ResultMessage[]> {
  const tid = parse(taskId, id);
  const o = parse(listOptions, opts);
  const rows = await db`
    SELECT sequence, task_id, message, error, context, context_type, ts, extra
    FROM result_messages
    WHERE task_id = ${tid} AND sequence > ${o.afterSequence ?? 0}
    ORDER BY sequence
    LIMIT ${o.limit}`;
  return rows.map(toResultMessage);
}

/** A message for {@linkcode appendResultMessages}: a message and its task. */
export interface TaskResultMessageInput extends ResultMessageInput {
  /** The task the message belongs to. */
  taskId: string;
}

/**
 * Appends many messages, to one task or several, in one statement, all or
 * none. Messages of one task get sequences in the order given; the tasks
 * are locked in id order, so concurrent batches cannot deadlock.
 *
 * @param db A pool or transaction.
 * @param messages The messages (at most 10,000).
 * @returns The stored messages, in the order given.
 * @throws {ValidationError} Bad input (paths start with its index); nothing written.
 * @throws {NotFoundError} A task is missing; nothing written.
 *
 * @example Usage
 * ```ts ignore
 * await appendResultMessages(sql, [
 *   { taskId: a.id, message: "node01 deployed", context: "node01" },
 *   { taskId: b.id, message: "node02 failed", error: true, context: "node02" },
 * ]);
 * ```
 */
export async function appendResultMessages(
  db: Db,
  messages: TaskResultMessageInput[],
): Promise<ResultMessage[]> {
  const list = parse(batchInput, messages);
  if (list.length === 0) return [];
  const ids = [...new Set(list.map((m) => m.taskId))];
  // Ids as one JSON parameter: one statement text (and plan) for every batch size.
  const idList = db`SELECT jsonb_array_elements_text(${JSON.stringify(ids)}::text::jsonb)::uuid`;
  const rows = await db`
    WITH input AS (
      SELECT r, n FROM jsonb_array_elements(${JSON.stringify(list)}::text::jsonb)
        WITH ORDINALITY AS x(r, n)
    ), locked AS (
      SELECT id FROM tasks WHERE id IN (${idList}) ORDER BY id FOR NO KEY UPDATE
    )
    INSERT INTO result_messages (task_id, message, error, context, context_type, ts, extra)
    SELECT (r->>'taskId')::uuid, r->>'message', (r->>'error')::boolean, r->>'context',
           r->>'contextType', coalesce((r->>'ts')::timestamptz, clock_timestamp()),
           nullif(r->'extra', 'null')
    FROM input
    WHERE (SELECT count(*) FROM locked) = ${ids.length}
    ORDER BY n
    RETURNING sequence, task_id, message, error, context, context_type, ts, extra`;
  if (rows.length === 0) {
    const found = await db`SELECT id FROM tasks WHERE id IN (${idList})`;
    const present = new Set(found.map((r) => r.id));
    throw new NotFoundError("task", ids.find((id) => !present.has(id)) ?? ids[0]);
  }
  return rows.map(toResultMessage).sort((a, b) => a.sequence - b.sequence);
}
