/**
 * Redaction: every URI and every error text that leaves the design
 * resolvers goes through here, so a password, a credential-like query value
 * or a token never reaches a log.
 *
 * @module
 */

import { DesignReferenceError } from "../errors.ts";

/** What replaces a secret. */
export const MASK = "***";

/**
 * Query and fragment keys whose values are treated as credentials
 * (`token`, `access_token`, `password`, `api_key`, `X-Amz-Signature`, …).
 * Broad on purpose: over-redacting a log line costs little.
 */
const CREDENTIAL_KEY = /pass|pwd|secret|token|key|sig|auth|cred|session|jwt|bearer/i;

/** Longest text of a URI quoted in a message. */
const MAX_QUOTED = 512;

/**
 * Returns `uri` with its credentials replaced by `***`: the password of
 * the userinfo (a userinfo without a password, often a token, entirely),
 * and every query or fragment value whose key looks like a credential
 * (`token`, `password`, `secret`, `api_key`, `signature`, …). Works on
 * unparsable text too; control characters are escaped and long text is
 * cut, so the result is safe to log.
 *
 * @param uri A URI, or text that failed to parse as one.
 * @returns The redacted URI.
 *
 * @example Usage
 * ```ts
 * import { redactUri } from "@drydock/statemgmt";
 * redactUri("https://ops:hunter2@deckhand:9000/x?token=abc&rev=3");
 * // "https://ops:***@deckhand:9000/x?token=***&rev=3"
 * ```
 */
export function redactUri(uri: string): string {
  const text = escapeControls(String(uri));
  const schemeMatch = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(text);
  let start = schemeMatch ? schemeMatch[0].length : 0;
  if (text.startsWith("//", start)) start += 2;
  const authorityEnd = firstIndexOf(text, "/?#\\", start);
  const at = text.lastIndexOf("@", authorityEnd - 1);
  let out = text;
  if (at >= start) {
    const userinfo = text.slice(start, at);
    const colon = userinfo.indexOf(":");
    const kept = colon >= 0 ? `${userinfo.slice(0, colon)}:${MASK}` : MASK;
    out = text.slice(0, start) + kept + text.slice(at);
  }
  out = redactPairs(out);
  return out.length > MAX_QUOTED ? `${out.slice(0, MAX_QUOTED)}…` : out;
}

/** Redacts credential-like `key=value` pairs in the query and fragment. */
function redactPairs(text: string): string {
  const q = text.indexOf("?");
  const h = text.indexOf("#");
  const head = text.slice(0, q >= 0 ? q : h >= 0 ? h : text.length);
  const query = q >= 0 ? text.slice(q + 1, h > q ? h : text.length) : null;
  const frag = h >= 0 ? text.slice(h + 1) : null;
  let out = head;
  if (query !== null) out += `?${redactPairList(query)}`;
  if (frag !== null) out += `#${redactPairList(frag)}`;
  return out;
}

function redactPairList(list: string): string {
  return list.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    if (eq < 0) return pair;
    return CREDENTIAL_KEY.test(safeDecode(pair.slice(0, eq)))
      ? `${pair.slice(0, eq)}=${MASK}`
      : pair;
  }).join("&");
}

function firstIndexOf(text: string, chars: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (chars.includes(text[i])) return i;
  }
  return text.length;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    // Malformed escapes: match on the raw text instead.
    return text;
  }
}

// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f]/g;

function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The secret strings a URI carries: its userinfo and credential-like
 * query and fragment values, raw and decoded. Scrubbed from any text that
 * an underlying error (e.g. a fetch `TypeError`) might quote.
 */
export function secretsOf(url: URL): string[] {
  const found: string[] = [];
  const add = (raw: string) => {
    if (raw === "") return;
    found.push(raw, safeDecode(raw), encodeURIComponent(safeDecode(raw)));
  };
  add(url.password);
  if (url.password === "") add(url.username);
  for (const part of [url.search.slice(1), url.hash.slice(1)]) {
    for (const pair of part.split("&")) {
      const eq = pair.indexOf("=");
      if (eq >= 0 && CREDENTIAL_KEY.test(safeDecode(pair.slice(0, eq)))) add(pair.slice(eq + 1));
    }
  }
  return found;
}

/**
 * Removes every secret from `text`, then redacts any URI still in it.
 *
 * @param text Any text, e.g. an error message or stack.
 * @param secrets Literal secrets to mask.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = String(text);
  const unique = [...new Set(secrets.filter((s) => s !== ""))].sort((a, b) => b.length - a.length);
  for (const secret of unique) out = out.replaceAll(secret, MASK);
  return out.replace(/[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s'"()<>]+/g, (uri) => redactUri(uri));
}

/**
 * A copy of `value` safe to attach as a `cause`: an error becomes a plain
 * `Error` with the same name and its message, stack and causes scrubbed;
 * any other value becomes scrubbed text. Our own
 * {@linkcode DesignReferenceError}s are already safe and kept as they are.
 */
export function safeCause(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (value === undefined || value === null) return value;
  if (value instanceof DesignReferenceError) return value;
  if (depth >= 5) return "(cause chain truncated)";
  if (value instanceof Error || value instanceof DOMException) {
    const copy = new Error(scrub(value.message, secrets), {
      cause: safeCause((value as Error).cause, secrets, depth + 1),
    });
    copy.name = value.name;
    copy.stack = typeof value.stack === "string" ? scrub(value.stack, secrets) : undefined;
    return copy;
  }
  return scrub(String(value), secrets);
}
