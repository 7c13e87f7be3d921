/**
 * Test helpers for the HTTP face: a handler over a fresh schema, called
 * in-process, and a client that shapes its requests exactly as Drydock's
 * `DrydockClient` / `DrydockSession` do (base `…/api/`, endpoints
 * `v1.0/…`, `X-Auth-Token` and `X-Context-Marker` headers, JSON bodies via
 * `requests`' `json=`, query strings built by string concatenation).
 */
import type { Sql } from "../src/db.ts";
import { createHttpHandler, type HttpHandlerOptions, tokenAuth } from "../src/http/mod.ts";
import { type SchemaContext, withSchema } from "./_helpers.ts";

/** The token every API test uses. */
export const TOKEN = "test-token-0123456789";

/** What a {@linkcode httpTest} body gets. */
export interface Api {
  handler: (request: Request) => Promise<Response>;
  /** A raw request to `path` (absolute, e.g. `/api/v1.0/tasks`). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** DrydockClient's calls. */
  client: DrydockClient;
  sql: Sql;
  ctx: SchemaContext;
  /** Unexpected errors the handler reported. */
  errors: unknown[];
}

/** `Deno.test` with a handler (token auth on) over a fresh, migrated schema. */
export function httpTest(
  name: string,
  fn: (api: Api) => Promise<void>,
  opts: HttpHandlerOptions = {},
): void {
  Deno.test(name, () => withApi(fn, opts));
}

/** Runs `fn` with a handler over a fresh schema. */
export function withApi<T>(fn: (api: Api) => Promise<T>, opts: HttpHandlerOptions = {}) {
  return withSchema(async (sql, ctx) => {
    const errors: unknown[] = [];
    const handler = createHttpHandler(sql, {
      authorize: tokenAuth([TOKEN]),
      onError: (err) => errors.push(err),
      eventsPollMs: 20,
      ...opts,
    });
    const fetch = (path: string, init?: RequestInit) =>
      handler(new Request(new URL(path, "http://drydock.test"), init));
    return await fn({ handler, fetch, client: new DrydockClient(fetch, TOKEN), sql, ctx, errors });
  });
}

/** The requests Drydock's client sends, as it sends them. */
export class DrydockClient {
  constructor(
    private send: (path: string, init?: RequestInit) => Promise<Response>,
    private token: string,
  ) {}

  private headers(json = false): Record<string, string> {
    const h: Record<string, string> = { "X-Auth-Token": this.token, "X-Context-Marker": "mk-1" };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }
  private get(endpoint: string) {
    return this.send("/api/" + endpoint, { headers: this.headers() });
  }

  getTasks(): Promise<Response> {
    return this.get("v1.0/tasks");
  }
  getTask(
    taskId: string,
    o: { builddata?: boolean; subtaskerrors?: boolean; layers?: number } = {},
  ): Promise<Response> {
    const q: string[] = [];
    if (o.builddata) q.push("builddata=true");
    if (o.subtaskerrors) q.push("subtaskerrors=true");
    if (o.layers) q.push(`layers=${o.layers}`);
    return this.get(`v1.0/tasks/${taskId}` + (q.length ? "?" + q.join("&") : ""));
  }
  createTask(designRef: unknown, action: unknown, nodeFilter: unknown = null): Promise<Response> {
    return this.send("/api/v1.0/tasks", {
      method: "POST",
      headers: this.headers(true),
      body: JSON.stringify({ action, design_ref: designRef, node_filter: nodeFilter }),
    });
  }
  /** `days` as Python's `str(days)`: `None` when not given. */
  deleteTasks(days?: number): Promise<Response> {
    return this.send("/api/v1.0/tasks?days=" + (days === undefined ? "None" : String(days)), {
      method: "DELETE",
      headers: this.headers(),
    });
  }
  getTaskBuildData(taskId: string): Promise<Response> {
    return this.get(`v1.0/tasks/${taskId}/builddata`);
  }
  /** `latest` as Python's `str(bool)`: `True` / `False`. */
  getNodeBuildData(nodeName: string, latest = true): Promise<Response> {
    return this.get(`v1.0/nodes/${nodeName}/builddata?latest=${latest ? "True" : "False"}`);
  }
}

/** Reads a JSON body, checking the content type. */
export async function jsonOf(r: Response): Promise<unknown> {
  const type = r.headers.get("content-type") ?? "";
  if (!type.startsWith("application/json")) throw new Error(`content-type ${type}`);
  return await r.json();
}
