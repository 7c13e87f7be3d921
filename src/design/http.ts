/**
 * The `http:` and `https:` resolver.
 *
 * @module
 */

import { DesignReferenceError } from "../errors.ts";
import { httpConfig, httpGet } from "./_fetch.ts";
import { redactUri } from "./_redact.ts";
import type { HttpResolverOptions, Resolver } from "./types.ts";

export type { HttpResolverOptions } from "./types.ts";

/**
 * A resolver for `http:` and `https:` URLs. It follows redirects itself
 * (at most `maxRedirects`, never to another scheme, with every credential
 * dropped once the origin changes), turns `user:password` in the URI into
 * Basic auth, refuses a body over `maxBytes` (declared or counted after
 * decoding), bounds each attempt by `timeoutMs`, and retries connection
 * errors, time-outs and 5xx with capped, jittered back-off. Its errors never
 * quote a response body, and their URIs have credentials replaced by `***`.
 *
 * @param opts Time-out, byte cap, retries, back-off and `fetch`.
 * @returns The resolver, to register for `http` and `https`.
 * @throws {ValidationError} When an option is out of range.
 *
 * @example Usage
 * ```ts
 * import { httpResolver, ResolverRegistry } from "@drydock/statemgmt";
 * const http = httpResolver({ timeoutMs: 10_000, retries: 2 });
 * const registry = new ResolverRegistry().register("https", http);
 * const doc = await registry.resolve("https://designs.example.com/site.yaml");
 * console.log(doc.contentType);
 * ```
 */
export function httpResolver(opts: HttpResolverOptions = {}): Resolver {
  const cfg = httpConfig(opts);
  return async (url, { signal }) => {
    const shown = redactUri(url.href);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new DesignReferenceError("invalid_uri", `${shown}: not an http: or https: URL`, {
        uri: shown,
      });
    }
    return await httpGet(url, cfg, { signal, shown });
  };
}
