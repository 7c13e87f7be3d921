/**
 * The types the design-reference registry and its resolvers share. They
 * live here, apart from both, so that imports run one way: these types ←
 * the helpers (`_options`, `_redact`, `_fetch`) ← the resolvers (`file`,
 * `http`, `deckhand`) ← the registry, which builds the default set.
 *
 * @module
 */

/** What a {@linkcode Resolver} is called with besides the URL. */
export interface ResolverContext {
  /** Aborted when the caller gives up; a resolver stops its work then. */
  signal: AbortSignal;
}

/** What a {@linkcode Resolver} returns. */
export interface ResolverResult {
  /** The document, exactly as stored. */
  bytes: Uint8Array;
  /** Its media type, when the source says (e.g. an HTTP `Content-Type`). */
  contentType?: string;
}

/**
 * Turns a parsed design reference into bytes. A resolver throws a
 * {@linkcode DesignReferenceError} on failure, never quotes a response
 * body, and stops when `signal` aborts.
 */
export type Resolver = (url: URL, opts: ResolverContext) => Promise<ResolverResult>;

/** Options of {@linkcode httpResolver}. */
export interface HttpResolverOptions {
  /**
   * The time-out of each attempt, in milliseconds, from the request to the
   * last byte of the body. The caller's `signal` bounds the whole call.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * The largest body accepted, in decoded bytes; a larger one throws
   * `too_large` (a declared `Content-Length` is checked before reading).
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * How many times, in one call (redirect hops included), a connection
   * error, a time-out or a 5xx is retried; a 4xx never is.
   * @default 3
   */
  retries?: number;
  /**
   * How many redirects are followed, at most 10.
   * @default 10
   */
  maxRedirects?: number;
  /**
   * The back-off before the first retry, in milliseconds; it doubles on
   * each retry up to `maxBackoffMs`, and half of it is random (jitter).
   * @default 250
   */
  backoffMs?: number;
  /**
   * The longest back-off between two attempts, in milliseconds.
   * @default 5000
   */
  maxBackoffMs?: number;
  /**
   * The `fetch` to use, e.g. one with a custom TLS client.
   * @default globalThis.fetch
   */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}
