/**
 * Reading a request body as JSON under a byte cap: a declared length over
 * the cap is refused before reading, and the stream is counted while read,
 * so a body without a length (chunked) stops at the cap too.
 *
 * @module
 */
import { HttpError } from "./_respond.ts";

/**
 * Reads at most `maxBytes` of `request`'s body; throws 413 past the cap.
 *
 * @param request The request.
 * @param maxBytes The cap.
 * @returns The body's bytes.
 */
export async function readCapped(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Reads the body as a JSON object: `application/json` only (415 else),
 * valid UTF-8 and JSON (400 else), an object (400 else).
 *
 * @param request The request.
 * @param maxBytes The cap on the body.
 * @returns The parsed object.
 */
export async function readJsonObject(
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new HttpError(415, "requires an application/json body");
  }
  const bytes = await readCapped(request, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `the body is larger than ${maxBytes} bytes`);
}
