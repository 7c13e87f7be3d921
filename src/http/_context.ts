/**
 * What every route gets: the request, its URL and path parameters, the
 * pool, and the handler's options resolved once.
 *
 * @module
 */
import type { Sql } from "../db.ts";
import type { Authorize } from "./auth.ts";

/** The options of {@linkcode createHttpHandler}. */
export interface HttpHandlerOptions {
  /**
   * Decides whether an API request may proceed (401 when not).
   * @default every request may
   */
  authorize?: Authorize;
  /**
   * Serve the status page at `/`.
   * @default false
   */
  ui?: boolean;
  /**
   * The largest request body accepted (413 above).
   * @default 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * The actions `POST /tasks` accepts (Drydock's list was fixed).
   * @default any lowercase identifier
   */
  actions?: readonly string[];
  /**
   * The leader election `GET /health/extended` reports on.
   * @default "default"
   */
  election?: string;
  /**
   * Told of every unexpected error (the client only sees "internal error").
   * @default logs the error's name and message with `console.error`
   */
  onError?: (error: unknown, request: Request) => void;
  /**
   * How often the events stream reads the log besides wake-ups (ms).
   * @default 250
   */
  eventsPollMs?: number;
  /**
   * How often the events stream sends a keep-alive comment (ms).
   * @default 15000
   */
  keepAliveMs?: number;
}

/** The options with their defaults. */
export interface ResolvedOptions {
  authorize: Authorize | null;
  ui: boolean;
  maxBodyBytes: number;
  actions: ReadonlySet<string> | null;
  election: string;
  eventsPollMs: number;
  keepAliveMs: number;
}

/** What a route is called with. */
export interface RouteContext {
  request: Request;
  url: URL;
  /** The path parameters, decoded. */
  params: Record<string, string>;
  sql: Sql;
  options: ResolvedOptions;
  /** Reports an unexpected error (never to the client). */
  log(err: unknown): void;
}

/** A route: answers one method of one path. */
export type Route = (ctx: RouteContext) => Promise<Response> | Response;
