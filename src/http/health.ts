/**
 * `GET /api/v1.0/health` (204 when the database answers and the schema is
 * migrated, else 503; no auth, for load balancers and Kubernetes probes)
 * and `GET /api/v1.0/health/extended` (Drydock's health status dict, plus
 * the database, migration, leader and queue depth; auth required).
 *
 * @module
 */
import { getLeader, type Lease } from "../leadership/lease.ts";
import { migrationStatus } from "../migrate.ts";
import type { Sql } from "../db.ts";
import type { RouteContext } from "./_context.ts";
import { errorResponse, json, noContent } from "./_respond.ts";
import { type QueueDepth, queueDepth } from "./_queue_depth.ts";

/** A check answers within this, or counts as failed: a probe must not hang. */
const CHECK_MS = 5000;

/** `fn()`, or a rejection after `ms`; the timer never outlives the call. */
async function within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("health check timed out")), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface Schema {
  current: string | null;
  applied: number;
  pending: string[];
}

async function schemaState(sql: Sql): Promise<Schema> {
  const status = await migrationStatus(sql);
  return {
    current: status.applied.at(-1)?.version ?? null,
    applied: status.applied.length,
    pending: status.pending,
  };
}

/** `GET /health`. */
export async function healthRoute(ctx: RouteContext): Promise<Response> {
  try {
    const s = await within(CHECK_MS, () => schemaState(ctx.sql));
    if (s.applied > 0 && s.pending.length === 0) return noContent();
    return errorResponse(503, "database schema not migrated", { retry: true });
  } catch {
    return errorResponse(503, "database unavailable", { retry: true });
  }
}

/** `GET /health/extended`. */
export async function healthExtendedRoute(ctx: RouteContext): Promise<Response> {
  const started = performance.now();
  const messages: { message: string; error: boolean; kind: "SimpleMessage" }[] = [];
  const note = (message: string, error: boolean) =>
    messages.push({ message, error, kind: "SimpleMessage" });
  let schema: Schema | null = null;
  let leader: Lease | null = null;
  let queue: QueueDepth | null = null;
  try {
    schema = await within(CHECK_MS, () => schemaState(ctx.sql));
    note("Database connection ok", false);
    if (schema.pending.length > 0 || schema.applied === 0) note("Schema not migrated", true);
    [leader, queue] = await within(
      CHECK_MS,
      () => Promise.all([getLeader(ctx.sql, ctx.options.election), queueDepth(ctx.sql)]),
    );
    if (!leader) note("No leader holds the lease", false);
  } catch (err) {
    ctx.log(err);
    note(schema ? "Database query failed" : "Unable to connect to database", true);
  }
  const errors = messages.filter((m) => m.error).length;
  const code = errors === 0 ? 200 : 503;
  return json(code, {
    kind: "Status",
    apiVersion: "v1.0",
    metadata: {},
    status: errors === 0 ? "Success" : "Failure",
    message: errors === 0 ? "" : "Drydock failed to respond",
    reason: "HealthCheck",
    details: { errorCount: errors, messageList: messages },
    code,
    database: { ok: schema !== null, latency_ms: Math.round(performance.now() - started) },
    migration: schema,
    leader: leader && {
      election: leader.election,
      holder: leader.holder,
      term: leader.term,
      expires_at: leader.expiresAt.toISOString(),
    },
    queue,
  });
}
