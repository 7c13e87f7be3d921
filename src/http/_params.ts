/**
 * Query and path parameters, checked before any SQL: a value that is not
 * what the route takes is a 400 naming the parameter, never a guess.
 *
 * @module
 */
import { HttpError } from "./_respond.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The path parameter `name` as a task id (a UUID, lower-cased), else 400. */
export function uuidParam(value: string, name = "task id"): string {
  if (!UUID.test(value)) throw new HttpError(400, `${name} must be a UUID`);
  return value.toLowerCase();
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/**
 * A boolean query parameter as Falcon's `get_param_as_bool` reads one
 * (`true`/`True`/`1`/`yes`/`on` and their opposites); absent or empty is
 * `fallback`; anything else is 400.
 */
export function boolParam(url: URL, name: string, fallback = false): boolean {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  const v = raw.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new HttpError(400, `${name} must be true or false`);
}

/**
 * An integer query parameter within [min, max]; absent or empty is
 * `fallback`; anything else is 400. `aliases` are accepted as absent too
 * (DrydockClient sends `days=None` when no days are given).
 */
export function intParam(
  url: URL,
  name: string,
  range: { min: number; max: number; fallback: number; aliases?: string[] },
): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "" || range.aliases?.includes(raw)) return range.fallback;
  if (!/^-?\d{1,10}$/.test(raw)) throw new HttpError(400, `${name} must be an integer`);
  const n = Number(raw);
  if (n < range.min || n > range.max) {
    throw new HttpError(400, `${name} must be between ${range.min} and ${range.max}`);
  }
  return n;
}
