/**
 * Option checks shared by the resolvers: options are checked once, when a
 * resolver is built, and trusted afterwards.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";

/** The default byte cap of a design document: 64 MiB. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** `value` if it is an integer in `[min, max]`, `fallback` if undefined. */
export function checkInteger(
  path: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError([{ path, message: `must be an integer from ${min} to ${max}` }]);
  }
  return value;
}
