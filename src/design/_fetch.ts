/**
 * The hardened HTTP GET behind the `http(s)`, `deckhand+http(s)` and
 * `promenade+http(s)` resolvers: redirects followed by hand, credentials
 * kept to their origin, a byte cap on decoded bytes, a time-out per
 * attempt, retries of 5xx and connection errors only.
 *
 * @module
 */

import { DesignReferenceError } from "../errors.ts";
import { delay, timeoutSignal } from "../_async.ts";
import { checkInteger, DEFAULT_MAX_BYTES } from "./_options.ts";
import { redactUri, safeCause, secretsOf } from "./_redact.ts";
import type { HttpResolverOptions, ResolverResult } from "./types.ts";

/** Parsed, checked options; trusted from here on. */
export interface HttpConfig {
  timeoutMs: number;
  maxBytes: number;
  retries: number;
  maxRedirects: number;
  backoffMs: number;
  maxBackoffMs: number;
  fetch: (input: string, init: RequestInit) => Promise<Response>;
}

/** Checks the options once, when a resolver is built. */
export function httpConfig(opts: HttpResolverOptions): HttpConfig {
  const custom = opts.fetch;
  if (custom !== undefined && typeof custom !== "function") {
    throw new TypeError("fetch must be a function");
  }
  return {
    timeoutMs: checkInteger("timeoutMs", opts.timeoutMs, 30_000, 1),
    maxBytes: checkInteger("maxBytes", opts.maxBytes, DEFAULT_MAX_BYTES, 1),
    retries: checkInteger("retries", opts.retries, 3, 0, 100),
    maxRedirects: checkInteger("maxRedirects", opts.maxRedirects, 10, 0, 10),
    backoffMs: checkInteger("backoffMs", opts.backoffMs, 250, 0),
    maxBackoffMs: checkInteger("maxBackoffMs", opts.maxBackoffMs, 5_000, 0),
    fetch: custom ? (input, init) => custom(input, init) : (input, init) => fetch(input, init),
  };
}

/** Errors worth another attempt: connection errors, time-outs, 5xx. */
const retryable = new WeakSet<object>();

/**
 * 401 errors of a request that carried the caller's credentials: a fresh
 * token may help (the Deckhand resolver asks for one once).
 */
export const credentialsRejected: WeakSet<object> = new WeakSet<object>();

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const ACCEPT = "application/x-yaml, application/yaml, text/yaml, application/json;q=0.9, */*;q=0.5";

/** What {@linkcode httpGet} needs besides the URL. */
export interface GetOptions {
  signal: AbortSignal;
  /** Headers that carry credentials: sent only to the first origin. */
  credentials?: Record<string, string>;
  /** More secrets to scrub from any error text (e.g. the token). */
  secrets?: string[];
  /** The URI to name in errors, already redacted. */
  shown: string;
}

type Hop = { redirect: URL } | { result: ResolverResult };

/**
 * GETs `start` (an `http:` or `https:` URL, userinfo becoming Basic auth)
 * and returns its body, or throws a DesignReferenceError. The caller's
 * signal bounds the whole call; on its abort its reason is thrown.
 */
export async function httpGet(
  start: URL,
  cfg: HttpConfig,
  opts: GetOptions,
): Promise<ResolverResult> {
  const { signal, shown } = opts;
  const credentials: Record<string, string> = { ...opts.credentials };
  const url = new URL(start.href);
  url.hash = "";
  if (url.username !== "" || url.password !== "") {
    credentials["authorization"] = basicAuth(url, shown);
    url.username = "";
    url.password = "";
  }
  const secrets = [
    start.href,
    ...secretsOf(start),
    ...(opts.secrets ?? []),
    ...Object.values(credentials),
    ...Object.values(credentials).map((v) => v.replace(/^Basic /, "")),
  ];
  const origin = url.origin;
  const visited = new Set([url.href]);
  const ctx = { cfg, signal, shown, secrets };
  let current = url;
  let withCredentials = true;
  let attempt = 0;
  while (true) {
    let hop: Hop;
    try {
      const headers: Record<string, string> = { accept: ACCEPT };
      if (withCredentials) Object.assign(headers, credentials);
      const where = current === url ? shown : `${shown} (redirected to ${redactUri(current.href)})`;
      hop = await attemptOnce(current, headers, ctx, where);
    } catch (err) {
      if (signal.aborted || !retryable.has(err as object) || attempt >= cfg.retries) {
        if (
          withCredentials && Object.keys(credentials).length > 0 &&
          err instanceof DesignReferenceError && err.status === 401
        ) credentialsRejected.add(err);
        throw err;
      }
      attempt++;
      await delay(backoff(attempt, cfg), { signal });
      continue;
    }
    if ("result" in hop) return hop.result;
    const next = hop.redirect;
    checkRedirect(current, next, visited, cfg.maxRedirects, shown);
    visited.add(next.href);
    // Once the design moves to another origin, no credential follows it,
    // not even back to the first origin.
    if (next.origin !== origin) withCredentials = false;
    current = next;
  }
}

/** Refuses a redirect to another scheme, back to a URL already visited, or past the cap. */
function checkRedirect(
  current: URL,
  next: URL,
  visited: ReadonlySet<string>,
  maxRedirects: number,
  shown: string,
): void {
  const fail = (why: string) =>
    new DesignReferenceError("redirect", `${shown}: ${why}`, { uri: shown });
  if (next.protocol !== current.protocol) {
    throw fail(`a redirect from ${current.protocol} to ${next.protocol} is refused`);
  }
  if (visited.has(next.href)) throw fail(`a redirect loop (back to ${redactUri(next.href)})`);
  if (visited.size > maxRedirects) throw fail(`more than ${maxRedirects} redirects`);
}

interface AttemptContext {
  cfg: HttpConfig;
  signal: AbortSignal;
  shown: string;
  secrets: string[];
}

/** One request, bounded by its own time-out and the caller's signal. */
async function attemptOnce(
  url: URL,
  headers: Record<string, string>,
  ctx: AttemptContext,
  where: string,
): Promise<Hop> {
  const { cfg, signal, shown } = ctx;
  const attempt = timeoutSignal(
    signal,
    cfg.timeoutMs,
    () => new DOMException(`no answer within ${cfg.timeoutMs} ms`, "TimeoutError"),
  );
  try {
    const res = await cfg.fetch(url.href, {
      method: "GET",
      headers,
      redirect: "manual",
      signal: attempt.signal,
    });
    return await handleResponse(res, url, where, shown, cfg.maxBytes);
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    if (attempt.timedOut) {
      const e = new DesignReferenceError(
        "timeout",
        `${where}: no complete answer within ${cfg.timeoutMs} ms`,
        { uri: shown },
      );
      retryable.add(e);
      throw e;
    }
    if (err instanceof DesignReferenceError) throw err;
    const e = new DesignReferenceError("network", `${where}: the request failed`, {
      uri: shown,
      cause: safeCause(err, ctx.secrets),
    });
    retryable.add(e);
    throw e;
  } finally {
    attempt.clear();
  }
}

async function handleResponse(
  res: Response,
  url: URL,
  where: string,
  uri: string,
  maxBytes: number,
): Promise<Hop> {
  if (res.type === "opaqueredirect") {
    await discard(res);
    throw new DesignReferenceError("redirect", `${where}: this runtime hides redirect targets`, {
      uri,
    });
  }
  if (REDIRECTS.has(res.status)) {
    const location = res.headers.get("location");
    await discard(res);
    if (location === null || !URL.canParse(location, url)) {
      throw new DesignReferenceError(
        "redirect",
        `${where}: HTTP ${res.status} without a usable Location`,
        { uri, status: res.status },
      );
    }
    const next = new URL(location, url);
    // A redirect never hands out credentials of its own.
    next.username = "";
    next.password = "";
    next.hash = "";
    return { redirect: next };
  }
  if (res.status < 200 || res.status > 299) {
    // The body is never read: Deckhand's error bodies hold secrets.
    await discard(res);
    const e = new DesignReferenceError("http_status", `${where}: HTTP ${res.status}`, {
      uri,
      status: res.status,
    });
    if (res.status >= 500) retryable.add(e);
    throw e;
  }
  const declared = contentLength(res);
  if (declared !== undefined && declared > maxBytes) {
    await discard(res);
    throw new DesignReferenceError(
      "too_large",
      `${where}: Content-Length ${declared} is over the cap of ${maxBytes} bytes`,
      { uri },
    );
  }
  const identity = (res.headers.get("content-encoding") ?? "identity").trim().toLowerCase() ===
    "identity";
  const bytes = await readCapped(res, identity ? declared : undefined, maxBytes, where, uri);
  const contentType = res.headers.get("content-type");
  return { result: contentType === null ? { bytes } : { bytes, contentType } };
}

function contentLength(res: Response): number | undefined {
  const raw = res.headers.get("content-length");
  if (raw === null || !/^\s*\d+\s*$/.test(raw)) return undefined;
  return Number(raw);
}

/**
 * Reads the (already decoded) body, refusing it past `maxBytes`: a gzip
 * bomb or an endless body stops at the cap with `too_large`, never a
 * truncated success. A declared length preallocates the buffer, so the
 * body is held once.
 */
async function readCapped(
  res: Response,
  declared: number | undefined,
  maxBytes: number,
  where: string,
  uri: string,
): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0);
  if (declared !== undefined) {
    const byob = byobReader(res.body);
    if (byob !== null) return await readDeclared(byob, declared, where, uri);
  }
  const reader = res.body.getReader();
  let buf: Uint8Array | null = declared !== undefined ? new Uint8Array(declared) : null;
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    const offset = total;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new DesignReferenceError(
        "too_large",
        `${where}: the body is over the cap of ${maxBytes} bytes`,
        { uri },
      );
    }
    if (buf !== null && total <= buf.length) {
      buf.set(value, offset);
      continue;
    }
    if (buf !== null) {
      chunks.push(buf.subarray(0, offset));
      buf = null;
    }
    chunks.push(value);
  }
  if (buf !== null) return total === buf.length ? buf : buf.subarray(0, total);
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** A BYOB reader where the body is a byte stream (fetch's are), else null. */
function byobReader(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | null {
  try {
    return body.getReader({ mode: "byob" });
  } catch (err) {
    // A body built from a plain ReadableStream (e.g. by an injected fetch)
    // has no BYOB mode: the default reader below serves it.
    if (err instanceof TypeError) return null;
    throw err;
  }
}

/**
 * Reads a body of declared length straight into one buffer of that size:
 * no chunk is allocated on the way, so the body is held once.
 */
async function readDeclared(
  reader: ReadableStreamBYOBReader,
  declared: number,
  where: string,
  uri: string,
): Promise<Uint8Array> {
  let buffer = new ArrayBuffer(declared);
  let length = 0;
  while (length < declared) {
    const { done, value } = await reader.read(new Uint8Array(buffer, length, declared - length));
    // Each read transfers the buffer; the view it returns holds the new one.
    if (value !== undefined) buffer = value.buffer as ArrayBuffer;
    if (done) break;
    length += value.byteLength;
  }
  const probe = await reader.read(new Uint8Array(1));
  if (!probe.done) {
    await reader.cancel();
    throw new DesignReferenceError(
      "network",
      `${where}: the body is longer than its Content-Length`,
      {
        uri,
      },
    );
  }
  return new Uint8Array(buffer, 0, length);
}

/** Releases a response's connection without reading its body. */
async function discard(res: Response): Promise<void> {
  if (res.body === null) return;
  try {
    await res.body.cancel();
  } catch (err) {
    // A body that already failed has nothing left to release; the
    // request's own outcome is what the caller needs, not this.
    void err;
  }
}

function basicAuth(url: URL, shown: string): string {
  let pair: string;
  try {
    pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  } catch {
    // The raw error would quote the credentials.
    throw new DesignReferenceError(
      "invalid_uri",
      `${shown}: malformed percent-encoding in the userinfo`,
      {
        uri: shown,
      },
    );
  }
  let binary = "";
  for (const byte of new TextEncoder().encode(pair)) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

/** Capped back-off with equal jitter: half fixed, half random. */
function backoff(attempt: number, cfg: HttpConfig): number {
  const cap = Math.min(cfg.maxBackoffMs, cfg.backoffMs * 2 ** (attempt - 1));
  return cap / 2 + Math.random() * (cap / 2);
}
