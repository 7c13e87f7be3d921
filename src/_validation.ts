import type { z } from "zod";
import { ValidationError } from "./errors.ts";

/**
 * Parses `input` with `schema` or throws a {@linkcode ValidationError}
 * naming every bad field. Runs before any SQL, so nothing is written.
 */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
    })),
  );
}
