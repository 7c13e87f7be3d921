/**
 * Every `code` a {@linkcode StateError} of this module can carry, in one
 * place: callers branch on these strings, so they are part of the contract
 * and never change once published. `errors.ts` lists them in its docs.
 */
export const Code = {
  /** Input failed validation before any SQL ran ({@linkcode ValidationError}). */
  Validation: "validation",
  /** The record does not exist ({@linkcode NotFoundError}). */
  NotFound: "not_found",
  /** A lost race or a taken key ({@linkcode ConflictError}). */
  Conflict: "conflict",
  /** The lease is not the current leadership ({@linkcode NotLeaderError}). */
  NotLeader: "not_leader",
  /** A migration failed or no longer matches its file ({@linkcode MigrationError}). */
  Migration: "migration",
  /** A call made in a state that does not allow it (e.g. restarting a stopped elector). */
  InvalidState: "invalid_state",
  /** A notification whose payload is not what this module sends. */
  InvalidNotification: "invalid_notification",
  /** A wait or a statement ran out of time. */
  Timeout: "timeout",
  /** An event cursor whose events have been pruned. */
  CursorExpired: "cursor_expired",
  /** The database cannot be reached, refused us, or is shutting down ({@linkcode ConnectionError}). */
  Unavailable: "unavailable",
  /** A table of this module is missing: run `migrate()` on this database and schema. */
  NotMigrated: "not_migrated",
  /** The reason of a `terminationSignal`: termination of the task or an ancestor was requested. */
  TerminationRequested: "termination_requested",
} as const;

/** One of the {@linkcode Code} values. */
export type Code = typeof Code[keyof typeof Code];
