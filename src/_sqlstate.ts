/**
 * The SQLSTATEs this module reacts to, by name, and the one place that
 * turns a database error into one of our errors. Everything else a
 * database error can be is passed on unchanged, never swallowed.
 */

/** PostgreSQL error codes, as named in its documentation (Appendix A). */
export const SqlState = {
  UniqueViolation: "23505",
  ForeignKeyViolation: "23503",
  UndefinedTable: "42P01",
  QueryCanceled: "57014",
} as const;

/** The SQLSTATE of a postgres.js error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** What a caller makes of the constraint violations its statement can raise. */
export interface ConstraintErrors {
  /** A unique key was taken; `key` is the value the detail names, if any. */
  unique?: (key: string | undefined, cause: unknown) => Error;
  /** A foreign key names no row; `key` is the value the detail names, if any. */
  foreignKey?: (key: string | undefined, cause: unknown) => Error;
}

/**
 * Maps a constraint violation to the caller's error; any other error is
 * returned as it is, for the caller to throw. The key comes from the
 * error's detail (`Key (id)=(…) already exists`): inside a transaction the
 * failed statement has aborted it, so a follow-up query could not ask.
 */
export function mapConstraintError(err: unknown, map: ConstraintErrors): unknown {
  const state = sqlState(err);
  if (state === SqlState.UniqueViolation && map.unique) return map.unique(keyInDetail(err), err);
  if (state === SqlState.ForeignKeyViolation && map.foreignKey) {
    return map.foreignKey(keyInDetail(err), err);
  }
  return err;
}

/** The key value a constraint error's detail names, e.g. `Key (id)=(…) already exists`. */
function keyInDetail(err: unknown): string | undefined {
  const detail = (err as { detail?: string }).detail ?? "";
  return /Key \([^)]*\)=\(([^)]*)\)/.exec(detail)?.[1];
}
