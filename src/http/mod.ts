/**
 * `@drydock/statemgmt/http`: Drydock's v1.0 API over the state store, as
 * one web-standard handler (`Request` → `Response`), so it runs under
 * `Deno.serve`, Deno Deploy or any fetch-style server. Routes under
 * `/api/v1.0/` answer with Drydock's JSON shapes (`Task.to_dict()`,
 * `TaskStatus.to_dict()`, `BuildData.to_dict()`; errors as
 * `{"type": "error", "message", "retry"}`):
 *
 * - `GET /tasks` (every task, streamed; `limit`, `after`, `status`,
 *   `action`, `order=newest`), `POST /tasks`, `DELETE /tasks?days=N`
 * - `GET /tasks/{id}?builddata&subtaskerrors&layers`, `GET /tasks/{id}/builddata`
 * - `GET /tasks/{id}/events` and `GET /events`: Server-Sent Events,
 *   resumable with `Last-Event-ID`
 * - `GET /nodes/{name}/builddata?latest`
 * - `POST /bootactions/{action_id}`: node reports, with `X-Bootaction-Key`
 * - `GET /health` (no auth), `GET /health/extended`
 *
 * and, with `ui: true`, a live status page at `/`.
 *
 * @example Usage
 * ```ts ignore
 * import postgres from "postgres";
 * import { migrate } from "@drydock/statemgmt";
 * import { createHttpHandler, tokenAuth } from "@drydock/statemgmt/http";
 *
 * const sql = postgres(Deno.env.get("DATABASE_URL")!);
 * await migrate(sql);
 * const handler = createHttpHandler(sql, {
 *   authorize: tokenAuth([Deno.env.get("STATEMGMT_TOKEN")!]),
 *   ui: true,
 * });
 * Deno.serve({ port: 9000 }, handler);
 * ```
 *
 * @module
 */
export type { Sql } from "../db.ts";
export { createHttpHandler } from "./handler.ts";
export type { HttpHandlerOptions } from "./_context.ts";
export { type Authorize, tokenAuth } from "./auth.ts";
