/**
 * Server-Sent Events from the durable task-event log:
 * `GET /api/v1.0/tasks/{id}/events` (the task and its descendants) and
 * `GET /api/v1.0/events` (every task). Each event's SSE `id` is its log
 * cursor, so a client that reconnects with `Last-Event-ID` (as
 * `EventSource` does by itself) gets every later event exactly once. The
 * first frame, `ready`, carries the cursor of the moment of subscribing,
 * so even a client that saw no event resumes without a gap. A cursor
 * whose events were pruned answers 410: start afresh.
 *
 * @module
 */
import { type TaskEvent, watchTasks } from "../events.ts";
import type { RouteContext } from "./_context.ts";
import { uuidParam } from "./_params.ts";
import { errorResponse } from "./_respond.ts";
import { readTreeIds } from "./_tree.ts";

const encoder = new TextEncoder();

/** One event as an SSE frame (snake_case, as the rest of the API). */
function frame(e: TaskEvent): string {
  const data = {
    task_id: e.taskId,
    parent_task_id: e.parentTaskId,
    action: e.action,
    status: e.status,
    kind: e.kind,
    at: e.at.toISOString(),
  };
  return `id: ${e.cursor}\nevent: task\ndata: ${JSON.stringify(data)}\n\n`;
}

/** `GET /events`: every task's events. */
export function allEventsRoute(ctx: RouteContext): Promise<Response> {
  return eventStream(ctx, () => true);
}

/** `GET /tasks/{id}/events`: the events of the task and its descendants (also those created later). */
export async function taskEventsRoute(ctx: RouteContext): Promise<Response> {
  const id = uuidParam(ctx.params.id);
  const tree = await readTreeIds(ctx.sql, id);
  if (tree.size === 0) return errorResponse(404, `Task ${id} does not exist`);
  return eventStream(ctx, (e) => {
    if (tree.has(e.taskId)) return true;
    // Events come in the order of each task's changes, so a child's
    // "created" follows its parent's: the tree grows as it is watched.
    if (e.parentTaskId !== null && tree.has(e.parentTaskId)) {
      tree.add(e.taskId);
      return true;
    }
    return false;
  });
}

/** An SSE body, and the means to write to it and to wait while the client is behind. */
function sseBody(stop: AbortController) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let drained: (() => void) | null = null;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      drained?.();
      drained = null;
    },
    cancel() {
      stop.abort();
    },
  }, { highWaterMark: 64 });
  return {
    body,
    send(text: string) {
      if (!stop.signal.aborted) controller.enqueue(encoder.encode(text));
    },
    /** Resolves once the client has room again (or the stream stopped). */
    async room() {
      while ((controller.desiredSize ?? 1) <= 0 && !stop.signal.aborted) {
        await new Promise<void>((resolve) => (drained = resolve));
      }
    },
    close() {
      drained?.();
      try {
        controller.close();
      } catch { /* already cancelled */ }
    },
  };
}

async function eventStream(
  ctx: RouteContext,
  wanted: (e: TaskEvent) => boolean,
): Promise<Response> {
  const after = ctx.request.headers.get("last-event-id") || ctx.url.searchParams.get("after") ||
    undefined;
  const stop = new AbortController();
  const sse = sseBody(stop);
  // Events the watch delivers before the `ready` frame wait for it.
  let early: TaskEvent[] | null = [];
  // A client that stops reading holds the watch back instead of filling memory.
  const onEvent = async (e: TaskEvent) => {
    if (!wanted(e)) return;
    if (early) return void early.push(e);
    await sse.room();
    sse.send(frame(e));
  };
  const watch = await watchTasks(ctx.sql, onEvent, {
    after,
    pollMs: ctx.options.eventsPollMs,
    signal: stop.signal,
    onError: (err) => {
      if ((err as { code?: string }).code !== "cursor_expired") return ctx.log(err);
      sse.send(`event: expired\ndata: {}\n\n`);
      stop.abort();
    },
  });
  // Resuming, the cursor given is where this stream starts; afresh, the
  // watch's cursor is, unless events already came (each carries its own).
  const start = after ?? (early.length === 0 ? watch.cursor : null);
  sse.send(`retry: 2000\n${start ? `id: ${start}\n` : ""}event: ready\ndata: {}\n\n`);
  for (const e of early) sse.send(frame(e));
  early = null;
  const keepAlive = setInterval(() => sse.send(": keep-alive\n\n"), ctx.options.keepAliveMs);
  const end = () => {
    clearInterval(keepAlive);
    void watch.unlisten().finally(sse.close);
  };
  if (stop.signal.aborted) end();
  else stop.signal.addEventListener("abort", end, { once: true });
  return new Response(sse.body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
