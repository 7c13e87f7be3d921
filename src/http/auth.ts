/**
 * Authorisation of API requests: the `authorize` hook's type, and
 * {@linkcode tokenAuth}, a ready one for `X-Auth-Token`.
 *
 * @module
 */
import { ValidationError } from "../errors.ts";

/**
 * Decides whether a request may proceed; sync or async. The handler asks
 * it for every route but `GET /health`, the status page's HTML and the
 * boot-action report (which has its own key), and answers 401 on `false`.
 */
export type Authorize = (request: Request) => boolean | Promise<boolean>;

const encoder = new TextEncoder();

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * An {@linkcode Authorize} that accepts a request whose `X-Auth-Token`
 * header equals one of `tokens`. The presented token and each accepted one
 * are compared as SHA-256 digests, every byte of every token, so neither
 * the time taken nor an early exit says how much of a token matched or
 * which one it was close to.
 *
 * @param tokens The accepted tokens (at least one, none empty).
 * @returns The authorize hook.
 * @throws {ValidationError} No token, or an empty one.
 *
 * @example Usage
 * ```ts ignore
 * import { createHttpHandler, tokenAuth } from "@drydock/statemgmt/http";
 * const handler = createHttpHandler(sql, { authorize: tokenAuth([Deno.env.get("STATEMGMT_TOKEN")!]) });
 * ```
 */
export function tokenAuth(tokens: readonly string[]): Authorize {
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new ValidationError([{ path: "tokens", message: "at least one token is required" }]);
  }
  const bad = tokens.findIndex((t) => typeof t !== "string" || t.length === 0);
  if (bad >= 0) {
    throw new ValidationError([{ path: `tokens.${bad}`, message: "must be a non-empty string" }]);
  }
  const accepted = Promise.all(tokens.map(digest));
  return async (request) => {
    const presented = request.headers.get("x-auth-token");
    const mine = await digest(presented ?? "");
    let ok = 0;
    for (const want of await accepted) {
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff |= want[i] ^ mine[i];
      ok |= diff === 0 ? 1 : 0;
    }
    return ok === 1 && presented !== null && presented !== "";
  };
}
