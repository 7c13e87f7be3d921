/**
 * The handler: matches the route, answers 404 and 405 (with `Allow`),
 * asks `authorize` for every route that needs it, and turns every error a
 * route throws into a response with Drydock's error shape.
 *
 * @module
 */
import type { Sql } from "../db.ts";
import { ValidationError } from "../errors.ts";
import type { HttpHandlerOptions, ResolvedOptions, Route, RouteContext } from "./_context.ts";
import { errorResponse, responseForError } from "./_respond.ts";
import { bootActionReportRoute } from "./bootactions.ts";
import { allEventsRoute, taskEventsRoute } from "./events.ts";
import { healthExtendedRoute, healthRoute } from "./health.ts";
import { pageRoute } from "./page.ts";
import { getTaskRoute, nodeBuildDataRoute, taskBuildDataRoute } from "./task.ts";
import { createTaskRoute, deleteTasksRoute, listTasksRoute } from "./tasks.ts";

/** One path: its segments (`{name}` binds a parameter), its methods, and whether it needs auth. */
interface PathSpec {
  segments: string[];
  methods: Record<string, Route>;
  /** Answered without `authorize` (its own key, or nothing to protect). */
  open?: boolean;
  ui?: boolean;
}

const API = ["api", "v1.0"];

const PATHS: PathSpec[] = [
  { segments: [], methods: { GET: pageRoute }, open: true, ui: true },
  {
    segments: [...API, "tasks"],
    methods: { GET: listTasksRoute, POST: createTaskRoute, DELETE: deleteTasksRoute },
  },
  { segments: [...API, "tasks", "{id}"], methods: { GET: getTaskRoute } },
  { segments: [...API, "tasks", "{id}", "builddata"], methods: { GET: taskBuildDataRoute } },
  { segments: [...API, "tasks", "{id}", "events"], methods: { GET: taskEventsRoute } },
  { segments: [...API, "events"], methods: { GET: allEventsRoute } },
  { segments: [...API, "nodes", "{name}", "builddata"], methods: { GET: nodeBuildDataRoute } },
  {
    segments: [...API, "bootactions", "{action_id}"],
    methods: { POST: bootActionReportRoute },
    open: true,
  },
  { segments: [...API, "health"], methods: { GET: healthRoute }, open: true },
  { segments: [...API, "health", "extended"], methods: { GET: healthExtendedRoute } },
];

/** The path's decoded segments (a trailing slash ignored), or `null` when one is badly encoded. */
function segmentsOf(pathname: string): string[] | null {
  const raw = pathname.split("/").filter((s, i, all) => s !== "" || (i > 0 && i < all.length - 1));
  try {
    return raw.map(decodeURIComponent);
  } catch {
    return null;
  }
}

function match(spec: PathSpec, segments: string[]): Record<string, string> | null {
  if (spec.segments.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const want = spec.segments[i];
    if (want.startsWith("{")) params[want.slice(1, -1)] = segments[i];
    else if (want !== segments[i]) return null;
  }
  return params;
}

function resolve(opts: HttpHandlerOptions): ResolvedOptions {
  const max = opts.maxBodyBytes ?? 1_048_576;
  if (!Number.isInteger(max) || max < 0) {
    throw new ValidationError([{ path: "maxBodyBytes", message: "must be a whole number >= 0" }]);
  }
  if (opts.authorize !== undefined && typeof opts.authorize !== "function") {
    throw new ValidationError([{ path: "authorize", message: "must be a function" }]);
  }
  return {
    authorize: opts.authorize ?? null,
    ui: opts.ui ?? false,
    maxBodyBytes: max,
    actions: opts.actions ? new Set(opts.actions) : null,
    election: opts.election ?? "default",
    eventsPollMs: opts.eventsPollMs ?? 250,
    keepAliveMs: opts.keepAliveMs ?? 15_000,
  };
}

const defaultOnError = (err: unknown, request: Request) => {
  const e = err as { name?: string; message?: string };
  console.error(
    `statemgmt http: ${request.method} ${new URL(request.url).pathname}: ${e?.name}: ${e?.message}`,
  );
};

/**
 * Makes the web-standard handler of Drydock's v1.0 API over `sql`: task,
 * build-data and boot-action routes under `/api/v1.0/`, the events stream,
 * the health checks and (with `ui`) the status page at `/`.
 *
 * @param sql A postgres.js pool on a migrated schema.
 * @param opts Authorisation, the status page, the body cap and more.
 * @returns `(request) => Promise<Response>`, for `Deno.serve` or any fetch-style server.
 * @throws {ValidationError} An option is invalid.
 *
 * @example Usage
 * ```ts ignore
 * import postgres from "postgres";
 * import { createHttpHandler, tokenAuth } from "@drydock/statemgmt/http";
 * const sql = postgres(Deno.env.get("DATABASE_URL")!);
 * const handler = createHttpHandler(sql, { authorize: tokenAuth(["s3cret"]), ui: true });
 * Deno.serve({ port: 9000 }, handler);
 * ```
 */
export function createHttpHandler(
  sql: Sql,
  opts: HttpHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const options = resolve(opts);
  const onError = opts.onError ?? defaultOnError;
  return async (request) => {
    const log = (err: unknown) => onError(err, request);
    try {
      return await dispatch(request, sql, options, log);
    } catch (err) {
      return responseForError(err, log);
    }
  };
}

async function dispatch(
  request: Request,
  sql: Sql,
  options: ResolvedOptions,
  log: (err: unknown) => void,
): Promise<Response> {
  const url = new URL(request.url);
  const segments = segmentsOf(url.pathname);
  if (segments === null) return errorResponse(400, "the path is not valid percent-encoding");
  for (const spec of PATHS) {
    const params = match(spec, segments);
    if (params === null || (spec.ui && !options.ui)) continue;
    const allow = Object.keys(spec.methods).join(", ");
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: { allow, "content-type": "text/plain" } });
    }
    const route = spec.methods[request.method];
    if (!route) {
      return errorResponse(405, `method ${request.method} not allowed`, { headers: { allow } });
    }
    if (!spec.open && options.authorize && !(await options.authorize(request))) {
      return errorResponse(401, "Unauthorized: a valid X-Auth-Token is required", {
        headers: { "www-authenticate": "X-Auth-Token" },
      });
    }
    const ctx: RouteContext = { request, url, params, sql, options, log };
    return await route(ctx);
  }
  return errorResponse(404, "not found");
}
