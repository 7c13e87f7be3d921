/**
 * `/api/v1.0/tasks`: list every task (streamed), create one, and apply
 * the retention policy.
 *
 * @module
 */
import { createTask, deleteTasksOlderThan, iterateTasks, type TaskStatus } from "../tasks.ts";
import { readJsonObject } from "./_body.ts";
import type { RouteContext } from "./_context.ts";
import { intParam, uuidParam } from "./_params.ts";
import { recentRootTasks } from "./_recent.ts";
import { HttpError, json, JSON_TYPE } from "./_respond.ts";
import { taskDict } from "./_shapes.ts";
import { jsonArrayStream } from "./_stream.ts";
import { validateTaskBody } from "./_task_body.ts";

/**
 * `GET /tasks`: every task as Drydock's dict, oldest first, streamed.
 * `?limit=N` stops after N, `?after=<id>` starts after that task,
 * `?status=a,b` and `?action=x` filter; `?order=newest` lists the newest
 * top-level tasks instead (`limit` default 50, at most 500).
 */
export async function listTasksRoute(ctx: RouteContext): Promise<Response> {
  const { url, sql } = ctx;
  if (url.searchParams.get("order") === "newest") {
    const limit = intParam(url, "limit", { min: 1, max: 500, fallback: 50 });
    return json(200, (await recentRootTasks(sql, limit)).map(taskDict));
  }
  if (url.searchParams.has("order")) throw new HttpError(400, "order must be newest");
  const limit = intParam(url, "limit", { min: 1, max: 2 ** 31 - 1, fallback: Infinity });
  const afterRaw = url.searchParams.get("after");
  const after = afterRaw ? uuidParam(afterRaw, "after") : undefined;
  const status = url.searchParams.get("status")?.split(",") as TaskStatus[] | undefined;
  const action = url.searchParams.get("action") ?? undefined;
  const tasks = iterateTasks(sql, {
    after,
    status,
    action,
    messages: true,
    pageSize: Math.min(500, limit),
  });
  const iterator = take(tasks, limit);
  // The first read happens before the response: bad filters answer 400, not a cut body.
  const first = await iterator.next();
  const body = jsonArrayStream(iterator, first, (t) => JSON.stringify(taskDict(t)), ctx.log);
  return new Response(body, {
    status: 200,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store" },
  });
}

async function* take<T>(items: AsyncIterable<T>, limit: number): AsyncGenerator<T> {
  if (limit <= 0) return;
  let n = 0;
  for await (const item of items) {
    yield item;
    if (++n >= limit) return;
  }
}

/**
 * `POST /tasks`: `{action, design_ref, node_filter}` → 201 with the queued
 * task and its `Location`; 400 naming each bad field, nothing written.
 */
export async function createTaskRoute(ctx: RouteContext): Promise<Response> {
  const body = await readJsonObject(ctx.request, ctx.options.maxBodyBytes);
  const input = validateTaskBody(body, ctx.options.actions);
  const headers = ctx.request.headers;
  const requestContext = {
    request_id: crypto.randomUUID(),
    external_marker: headers.get("x-context-marker")?.slice(0, 256) ?? null,
    end_user: headers.get("x-end-user")?.slice(0, 256) ?? null,
  };
  const task = await createTask(ctx.sql, { ...input, status: "queued", requestContext });
  return json(201, taskDict({ ...task, messages: [] }), {
    location: `/api/v1.0/tasks/${task.id}`,
  });
}

/**
 * `DELETE /tasks?days=N`: deletes finished task trees created more than N
 * days ago (default 90; `days=None`, as DrydockClient sends it, too).
 */
export async function deleteTasksRoute(ctx: RouteContext): Promise<Response> {
  const days = intParam(ctx.url, "days", {
    min: 0,
    max: 36_500,
    fallback: 90,
    aliases: ["None"],
  });
  const cutoff = new Date(Date.now() - days * 86_400_000);
  const deleted = await deleteTasksOlderThan(ctx.sql, cutoff);
  return json(200, { message: "Tables purged successfully.", days, deleted });
}
