/**
 * Responses of the HTTP face: JSON bodies, Drydock's error shape
 * (`{"type": "error", "message", "retry"}`), and the one mapping from a
 * thrown error to a response, so no stack trace or database error text
 * ever reaches a client.
 *
 * @module
 */
import { StateError, ValidationError } from "../errors.ts";
import { Code } from "../_codes.ts";
import { isConnectionFailure } from "../_sqlstate.ts";

/** The content type of every JSON body. */
export const JSON_TYPE = "application/json";

/** An error a route throws to answer with `status` and Drydock's error shape. */
export class HttpError extends Error {
  readonly status: number;
  readonly retry: boolean;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { retry?: boolean; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.retry = opts.retry ?? false;
    this.headers = opts.headers ?? {};
  }
}

/** A JSON response. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store", ...headers },
  });
}

/** Drydock's error body with `status`. */
export function errorResponse(
  status: number,
  message: string,
  opts: { retry?: boolean; headers?: Record<string, string> } = {},
): Response {
  return json(status, { type: "error", message, retry: opts.retry ?? false }, opts.headers);
}

/** An empty response that still names its content type. */
export function noContent(status = 204): Response {
  return new Response(null, { status, headers: { "content-type": JSON_TYPE } });
}

/**
 * Whether `err` says the database is unreachable or shutting down (a
 * `ConnectionError`, code `unavailable`, or a raw driver error the shared
 * mapping would make one), or a wait timed out: worth a retry, unlike a bug.
 */
export function isUnavailable(err: unknown): boolean {
  return isConnectionFailure(err) || (err as { code?: unknown })?.code === Code.Timeout;
}

/**
 * The response for an error thrown by a route. Our own errors keep their
 * messages (they name fields, never values of secrets); anything else is
 * "internal error" and is reported to `log` only.
 */
export function responseForError(err: unknown, log: (err: unknown) => void): Response {
  if (err instanceof HttpError) {
    return errorResponse(err.status, err.message, { retry: err.retry, headers: err.headers });
  }
  if (err instanceof ValidationError) return errorResponse(400, err.message);
  if (err instanceof StateError) {
    switch (err.code) {
      case "not_found":
        return errorResponse(404, err.message);
      case "conflict":
        return errorResponse(409, err.message);
      case "cursor_expired":
        return errorResponse(410, err.message);
      case Code.NotMigrated:
        // Says which table is missing and to run migrate(); no retry helps until then.
        log(err);
        return errorResponse(503, err.message);
    }
  }
  log(err);
  if (isUnavailable(err)) return errorResponse(503, "database unavailable", { retry: true });
  return errorResponse(500, "internal error");
}
