/**
 * Design references: a URI naming where a site design lives (`file:///…`,
 * `https://…`, `deckhand+https://…`), turned into bytes by the resolver
 * registered for its scheme.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DesignReferenceError, ValidationError } from "../errors.ts";
import { abortable } from "../_async.ts";
import { redactUri, safeCause, secretsOf } from "./_redact.ts";
import { deckhandResolver, type DeckhandResolverOptions } from "./deckhand.ts";
import { fileResolver, type FileResolverOptions } from "./file.ts";
import { httpResolver } from "./http.ts";
import type { HttpResolverOptions, Resolver, ResolverResult } from "./types.ts";

export { redactUri } from "./_redact.ts";
export type { Resolver, ResolverContext, ResolverResult } from "./types.ts";

/** Options of {@linkcode ResolverRegistry.prototype.resolve}. */
export interface ResolveOptions {
  /**
   * Bounds the whole call, retries and redirects included. When it aborts
   * with a `TimeoutError` (as `AbortSignal.timeout()` does) the call throws
   * a {@linkcode DesignReferenceError} with code `timeout`; with any other
   * reason it rethrows that reason, as `fetch` does.
   * @default no bound beyond each resolver's own time-outs
   */
  signal?: AbortSignal;
  /**
   * The expected SHA-256 of the document, 64 hex digits (optionally
   * prefixed `sha256:`). A mismatch throws a {@linkcode DesignReferenceError}
   * with code `integrity`.
   * @default no check
   */
  sha256?: string;
}

/** A resolved design reference. */
export interface ResolvedDocument {
  /** The URI resolved, normalised, with credentials replaced by `***`. */
  uri: string;
  /** The document's bytes. */
  bytes: Uint8Array;
  /** Its media type, when the source says. */
  contentType?: string;
  /** The SHA-256 of `bytes`, 64 lower-case hex digits. */
  sha256: string;
}

/** Longest URI accepted; a design reference is a locator, not a payload. */
const MAX_URI_LENGTH = 8192;

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const SCHEME = /^[a-z][a-z0-9.-]*(\+[a-z][a-z0-9.-]*)?$/;

/**
 * A registry of resolvers keyed by URI scheme. `resolve()` parses the URI,
 * picks the resolver by its exact, lower-cased scheme (`deckhand+https` is
 * one scheme and never falls back to `https`), and returns the bytes with
 * their SHA-256.
 *
 * @example Usage
 * ```ts
 * import { fileResolver, ResolverRegistry } from "@drydock/statemgmt";
 * const registry = new ResolverRegistry().register("file", fileResolver({ roots: ["/srv/designs"] }));
 * const doc = await registry.resolve("file:///srv/designs/site.yaml", {
 *   signal: AbortSignal.timeout(10_000),
 * });
 * console.log(doc.sha256, doc.bytes.length);
 * ```
 */
export class ResolverRegistry {
  #resolvers = new Map<string, Resolver>();

  /**
   * Registers `resolver` for `scheme`, replacing any resolver already
   * registered for it.
   *
   * @param scheme A URI scheme, e.g. `"https"` or `"deckhand+https"`; case
   *   and a trailing `:` are ignored. A composite scheme must end in
   *   `+http` or `+https`.
   * @param resolver The resolver.
   * @returns This registry, for chaining.
   * @throws {ValidationError} When `scheme` is not a valid scheme or
   *   `resolver` is not a function.
   */
  register(scheme: string, resolver: Resolver): this {
    const key = normaliseScheme(scheme);
    if (typeof resolver !== "function") {
      throw new ValidationError([{ path: "resolver", message: "must be a function" }]);
    }
    this.#resolvers.set(key, resolver);
    return this;
  }

  /**
   * Removes the resolver of `scheme`.
   *
   * @param scheme A URI scheme; case and a trailing `:` are ignored.
   * @returns Whether a resolver was registered for it.
   * @throws {ValidationError} When `scheme` is not a valid scheme.
   */
  unregister(scheme: string): boolean {
    return this.#resolvers.delete(normaliseScheme(scheme));
  }

  /**
   * The schemes with a resolver, sorted.
   *
   * @returns The lower-cased schemes, without `:`.
   */
  schemes(): string[] {
    return [...this.#resolvers.keys()].sort();
  }

  /**
   * Resolves a design reference to its bytes.
   *
   * @param uri The design reference.
   * @param opts A signal bounding the whole call, and the expected SHA-256.
   * @returns The document, its SHA-256 and the redacted URI.
   * @throws {DesignReferenceError} With code `invalid_uri`,
   *   `unsupported_scheme`, `not_found`, `forbidden_path`, `redirect`,
   *   `http_status`, `too_large`, `timeout`, `network` or `integrity`.
   * @throws {ValidationError} When `opts.sha256` is not 64 hex digits.
   * @throws {TypeError} When a custom resolver returns no `Uint8Array` bytes.
   */
  async resolve(uri: string | URL, opts: ResolveOptions = {}): Promise<ResolvedDocument> {
    const expected = opts.sha256 === undefined ? undefined : parseSha256(opts.sha256);
    const url = parseUri(String(uri));
    const shown = redactUri(url.href);
    const scheme = url.protocol.slice(0, -1);
    checkComposite(scheme, shown);
    const resolver = this.#resolvers.get(scheme);
    if (!resolver) {
      const known = this.schemes().join(", ") || "none";
      throw new DesignReferenceError(
        "unsupported_scheme",
        `${shown}: no resolver for scheme "${scheme}" (registered: ${known})`,
        { uri: shown },
      );
    }
    const signal = opts.signal ?? new AbortController().signal;
    throwIfAborted(signal, shown);
    const result = await callResolver(resolver, url, signal, shown);
    const sha256 = sha256Hex(result.bytes);
    if (expected !== undefined && expected !== sha256) {
      throw new DesignReferenceError(
        "integrity",
        `${shown}: sha256 is ${sha256}, expected ${expected}`,
        { uri: shown },
      );
    }
    const doc: ResolvedDocument = { uri: shown, bytes: result.bytes, sha256 };
    if (result.contentType !== undefined) doc.contentType = result.contentType;
    return doc;
  }
}

/** Options of {@linkcode createDefaultRegistry}; `false` leaves a family out. */
export interface DefaultRegistryOptions {
  /**
   * Options of the `file` resolver.
   * @default `{}`: any absolute path the process may read
   */
  file?: FileResolverOptions | false;
  /**
   * Options of the `http` and `https` resolvers; also the defaults of the
   * Deckhand and Promenade resolvers.
   * @default `{}`
   */
  http?: HttpResolverOptions | false;
  /**
   * Options of the `deckhand+http` and `deckhand+https` resolvers, above
   * all the Keystone token provider.
   * @default `{}`: no `X-Auth-Token` (Deckhand's no-auth development mode)
   */
  deckhand?: Partial<DeckhandResolverOptions> | false;
  /**
   * Options of the `promenade+http` and `promenade+https` resolvers.
   * @default the `deckhand` options (`{}` when `deckhand` is `false`)
   */
  promenade?: Partial<DeckhandResolverOptions> | false;
}

/**
 * A registry with the standard resolvers: `file`, `http`, `https`,
 * `deckhand+http`, `deckhand+https`, `promenade+http`, `promenade+https`.
 * Nothing is read or fetched until `resolve()` is called.
 *
 * @param opts Options per family; `false` leaves a family out.
 * @returns A new registry.
 * @throws {ValidationError} When an option is out of range.
 *
 * @example Usage
 * ```ts
 * import { createDefaultRegistry } from "@drydock/statemgmt";
 * const registry = createDefaultRegistry({
 *   file: { roots: ["/srv/designs"] },
 *   deckhand: { token: ({ refresh }) => keystone.token({ refresh }) },
 * });
 * const doc = await registry.resolve(
 *   "deckhand+https://deckhand:9000/api/v1.0/revisions/3/rendered-documents",
 * );
 * declare const keystone: { token(o: { refresh: boolean }): Promise<string> };
 * ```
 */
export function createDefaultRegistry(opts: DefaultRegistryOptions = {}): ResolverRegistry {
  const registry = new ResolverRegistry();
  if (opts.file !== false) registry.register("file", fileResolver(opts.file ?? {}));
  const http = opts.http === false ? {} : opts.http ?? {};
  if (opts.http !== false) {
    const resolver = httpResolver(http);
    registry.register("http", resolver).register("https", resolver);
  }
  const deckhand = opts.deckhand;
  const promenade = opts.promenade ?? (deckhand === false ? {} : deckhand);
  for (const [family, options] of [["deckhand", deckhand], ["promenade", promenade]] as const) {
    if (options === false) continue;
    const resolver = deckhandResolver({ ...http, ...options });
    registry.register(`${family}+http`, resolver).register(`${family}+https`, resolver);
  }
  return registry;
}

function normaliseScheme(scheme: string): string {
  const key = String(scheme).toLowerCase().replace(/:$/, "");
  if (!SCHEME.test(key)) {
    throw new ValidationError([{
      path: "scheme",
      message: `"${redactUri(String(scheme))}" is not a URI scheme (a composite is name+http(s))`,
    }]);
  }
  const plus = key.indexOf("+");
  if (plus >= 0 && !["http", "https"].includes(key.slice(plus + 1))) {
    throw new ValidationError([{
      path: "scheme",
      message: `"${key}": the part after "+" must be http or https`,
    }]);
  }
  return key;
}

function parseUri(raw: string): URL {
  if (raw.length > MAX_URI_LENGTH) {
    throw new DesignReferenceError(
      "invalid_uri",
      `design reference is ${raw.length} characters long, over ${MAX_URI_LENGTH}`,
      { uri: redactUri(raw) },
    );
  }
  // The URL parser silently drops tabs and newlines and trims controls:
  // what was written must be what is resolved.
  if (CONTROL_CHARS.test(raw) || raw.trim() !== raw) {
    throw new DesignReferenceError(
      "invalid_uri",
      `${redactUri(raw)}: control characters or surrounding spaces in a design reference`,
      { uri: redactUri(raw) },
    );
  }
  if (!URL.canParse(raw)) {
    throw new DesignReferenceError("invalid_uri", `${redactUri(raw)}: not a valid URI`, {
      uri: redactUri(raw),
    });
  }
  return new URL(raw);
}

function checkComposite(scheme: string, shown: string): void {
  const plus = scheme.indexOf("+");
  if (plus < 0) return;
  const inner = scheme.slice(plus + 1);
  if (inner.includes("+") || (inner !== "http" && inner !== "https")) {
    throw new DesignReferenceError(
      "invalid_uri",
      `${shown}: in a composite scheme the part after "+" must be http or https, not "${inner}"`,
      { uri: shown },
    );
  }
}

function parseSha256(value: string): string {
  const hex = String(value).trim().toLowerCase().replace(/^sha256[:-]/, "");
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new ValidationError([{ path: "sha256", message: "must be 64 hex digits" }]);
  }
  return hex;
}

/** Throws the caller's abort as this call's error (see ResolveOptions.signal). */
function throwIfAborted(signal: AbortSignal, shown: string): void {
  if (!signal.aborted) return;
  const reason = signal.reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    throw new DesignReferenceError("timeout", `${shown}: the caller's deadline passed`, {
      uri: shown,
      cause: reason,
    });
  }
  throw reason;
}

/**
 * Runs a resolver, bounded by the caller's signal even when the resolver
 * ignores it, and turns a foreign error into a DesignReferenceError whose
 * text and cause are scrubbed of the URI's secrets.
 */
async function callResolver(
  resolver: Resolver,
  url: URL,
  signal: AbortSignal,
  shown: string,
): Promise<ResolverResult> {
  let result: ResolverResult;
  try {
    result = await abortable(resolver(new URL(url.href), { signal }), signal);
  } catch (err) {
    throwIfAborted(signal, shown);
    if (err instanceof DesignReferenceError) throw err;
    const secrets = [url.href, ...secretsOf(url)];
    throw new DesignReferenceError("network", `${shown}: the ${url.protocol} resolver failed`, {
      uri: shown,
      cause: safeCause(err, secrets),
    });
  }
  if (!(result?.bytes instanceof Uint8Array)) {
    throw new TypeError(`the resolver of ${url.protocol} returned no Uint8Array "bytes"`);
  }
  return result;
}

/**
 * node:crypto's hash reads the bytes in place; `crypto.subtle.digest` would
 * copy them first (as the spec says), doubling the peak memory of a resolve.
 */
function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
