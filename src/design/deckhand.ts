/**
 * The `deckhand+http(s):` and `promenade+http(s):` resolver: the URL
 * without its prefix, fetched with a Keystone token in `X-Auth-Token`.
 *
 * @module
 */

import { DesignReferenceError } from "../errors.ts";
import { abortable } from "../_async.ts";
import { credentialsRejected, httpConfig, httpGet } from "./_fetch.ts";
import { redactUri, safeCause } from "./_redact.ts";
import type { HttpResolverOptions, Resolver, ResolverResult } from "./types.ts";

/** What a {@linkcode TokenProvider} is asked for. */
export interface TokenRequest {
  /**
   * `true` after the service refused the last token (HTTP 401): return a
   * fresh one, not a cached one.
   */
  refresh: boolean;
  /** Aborted when the caller gives up. */
  signal: AbortSignal;
}

/** Gives the token sent as `X-Auth-Token` (Keystone in production). */
export type TokenProvider = (request: TokenRequest) => string | Promise<string>;

/** Options of {@linkcode deckhandResolver}; the HTTP options apply too. */
export interface DeckhandResolverOptions extends HttpResolverOptions {
  /**
   * The token provider; asked once per resolve, and once more after a 401.
   * @default none: no `X-Auth-Token` is sent (Deckhand's no-auth mode)
   */
  token?: TokenProvider;
}

/** Longest token accepted; Keystone's Fernet tokens are ~200 characters. */
const MAX_TOKEN_LENGTH = 16 * 1024;

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * A resolver for `deckhand+http(s):` and `promenade+http(s):` URLs: it
 * drops the prefix, keeps host, path and query
 * (`deckhand+https://deckhand:9000/api/v1.0/revisions/3/rendered-documents`
 * becomes `https://deckhand:9000/api/v1.0/revisions/3/rendered-documents`),
 * and GETs that with the provider's token in `X-Auth-Token`. After a 401
 * it asks the provider once more (`refresh: true`) and tries once more.
 * Everything else is {@linkcode httpResolver}'s: redirects, caps,
 * time-outs, retries, redaction; the token never follows a redirect to
 * another origin.
 *
 * @param opts The token provider and the HTTP options.
 * @returns The resolver, to register for `deckhand+https` and the like.
 * @throws {ValidationError} When an option is out of range.
 *
 * @example Usage
 * ```ts
 * import { deckhandResolver, ResolverRegistry } from "@drydock/statemgmt";
 * let cached: string | undefined;
 * const deckhand = deckhandResolver({
 *   token: async ({ refresh }) => (!refresh && cached) || (cached = await login()),
 * });
 * const registry = new ResolverRegistry().register("deckhand+https", deckhand);
 * const doc = await registry.resolve(
 *   "deckhand+https://deckhand:9000/api/v1.0/revisions/3/rendered-documents",
 * );
 * declare function login(): Promise<string>;
 * ```
 */
export function deckhandResolver(opts: DeckhandResolverOptions = {}): Resolver {
  const { token, ...httpOpts } = opts;
  if (token !== undefined && typeof token !== "function") {
    throw new TypeError("token must be a function returning the token");
  }
  const cfg = httpConfig(httpOpts);
  return async (url, { signal }) => {
    const shown = redactUri(url.href);
    const target = innerUrl(url, shown);
    if (token === undefined) return await httpGet(target, cfg, { signal, shown });
    const get = async (refresh: boolean): Promise<ResolverResult> => {
      const value = await askToken(token, refresh, signal, shown);
      return await httpGet(target, cfg, {
        signal,
        shown,
        credentials: { "x-auth-token": value },
        secrets: [value],
      });
    };
    try {
      return await get(false);
    } catch (err) {
      if (!credentialsRejected.has(err as object)) throw err;
    }
    return await get(true);
  };
}

/** `deckhand+https://h/p` → `https://h/p`, or `invalid_uri`. */
function innerUrl(url: URL, shown: string): URL {
  const scheme = url.protocol.slice(0, -1);
  const plus = scheme.indexOf("+");
  const inner = scheme.slice(plus + 1);
  const rest = url.href.slice(url.protocol.length);
  const fail = (why: string) =>
    new DesignReferenceError("invalid_uri", `${shown}: ${why}`, { uri: shown });
  if (plus < 0 || (inner !== "http" && inner !== "https")) {
    throw fail('expected a scheme ending in "+http" or "+https"');
  }
  if (!rest.startsWith("//") || url.host === "" || !URL.canParse(`${inner}:${rest}`)) {
    throw fail(`expected ${scheme}://host/path`);
  }
  const target = new URL(`${inner}:${rest}`);
  if (target.hostname === "") throw fail("no host");
  return target;
}

/** Asks the provider, bounded by the caller's signal; checks the answer. */
async function askToken(
  provider: TokenProvider,
  refresh: boolean,
  signal: AbortSignal,
  shown: string,
): Promise<string> {
  signal.throwIfAborted();
  let value: unknown;
  try {
    value = await abortable(Promise.resolve().then(() => provider({ refresh, signal })), signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw new DesignReferenceError("network", `${shown}: the token provider failed`, {
      uri: shown,
      cause: safeCause(err, []),
    });
  }
  if (
    typeof value !== "string" || value === "" || value.length > MAX_TOKEN_LENGTH ||
    CONTROL_CHARS.test(value)
  ) {
    throw new DesignReferenceError(
      "network",
      `${shown}: the token provider returned no usable token (a non-empty string without control characters)`,
      { uri: shown },
    );
  }
  return value;
}
