/**
 * The few assertions the tests use, on node:assert (jsr:@std/assert is out
 * of reach from our machines).
 */
import nodeAssert from "node:assert/strict";

/** Fails unless `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Fails unless `actual` deep-equals `expected` (strict). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Fails when `actual` deep-equals `expected`. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E> = new (...args: any[]) => E;

/** Fails unless `fn` rejects with an instance of `cls`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  return check(thrown, cls, includes);
}

/** Fails unless `fn` throws an instance of `cls`; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  cls: ErrorClass<E>,
  includes?: string,
): E {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  return check(thrown, cls, includes);
}

function check<E extends Error>(thrown: unknown, cls: ErrorClass<E>, includes?: string): E {
  if (thrown === undefined) throw new nodeAssert.AssertionError({ message: "expected a throw" });
  if (!(thrown instanceof cls)) {
    throw new nodeAssert.AssertionError({
      message: `expected ${cls.name}, got ${(thrown as Error)?.name}: ${
        (thrown as Error)?.message
      }`,
    });
  }
  if (includes !== undefined && !thrown.message.includes(includes)) {
    throw new nodeAssert.AssertionError({
      message: `expected message to include ${JSON.stringify(includes)}: ${thrown.message}`,
    });
  }
  return thrown;
}
