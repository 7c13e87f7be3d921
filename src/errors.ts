/**
 * The errors every function of this module throws. Each is a
 * {@linkcode StateError} with a stable `code`, so callers branch on
 * `err.code` (or `instanceof`) instead of parsing messages.
 *
 * @module
 */
import { Code } from "./_codes.ts";

/** Options shared by every error constructor. */
export interface StateErrorOptions {
  /** The underlying error, kept for debugging. */
  cause?: unknown;
}

/**
 * The base class of every error this module throws. Its `code` is one of:
 *
 * - `validation` — {@linkcode ValidationError}: bad input, nothing written;
 * - `not_found` — {@linkcode NotFoundError};
 * - `conflict` — {@linkcode ConflictError}: a lost race or a taken key;
 * - `not_leader` — {@linkcode NotLeaderError}: the lease is not current;
 * - `migration` — {@linkcode MigrationError};
 * - `unavailable` — {@linkcode ConnectionError}: the database cannot be
 *   reached, refused the connection (no such database, authentication)
 *   or is shutting down; worth retrying once it is back;
 * - a {@linkcode DesignReferenceErrorCode} — {@linkcode DesignReferenceError};
 * - on a plain `StateError`: `invalid_state` (a call its object's state
 *   does not allow, e.g. restarting a stopped elector),
 *   `invalid_notification` (a notification this module did not send),
 *   `timeout` (a wait ran out of time), `cursor_expired` (an event
 *   cursor whose events were pruned), `not_migrated` (a table of this
 *   module is missing: run `migrate()` on this database and schema) and
 *   `termination_requested` (the reason a `terminationSignal` aborts with).
 *
 * @example Usage
 * ```ts
 * import { StateError } from "@drydock/statemgmt";
 * const err = new StateError("internal", "something broke");
 * console.log(err.code); // "internal"
 * ```
 */
export class StateError extends Error {
  /** A stable, machine-readable code, e.g. `"not_found"`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code A stable, machine-readable code.
   * @param message A human-readable description.
   * @param options The cause, if any.
   */
  constructor(code: string, message: string, options?: StateErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One invalid field of an input. */
export interface ValidationIssue {
  /** Dotted path to the field, e.g. `"result.status"`; `""` for the input itself. */
  path: string;
  /** What is wrong with it. */
  message: string;
}

/**
 * Input failed validation. Thrown before any SQL runs, so nothing was written.
 *
 * @example Usage
 * ```ts
 * import { ValidationError } from "@drydock/statemgmt";
 * const err = new ValidationError([{ path: "action", message: "required" }]);
 * console.log(err.issues[0].path); // "action"
 * ```
 */
export class ValidationError extends StateError {
  /** Every invalid field, with the reason. */
  readonly issues: ValidationIssue[];

  /**
   * Creates the error.
   *
   * @param issues Every invalid field.
   * @param options The cause, if any.
   */
  constructor(issues: ValidationIssue[], options?: StateErrorOptions) {
    const list = issues.map((i) => `${i.path || "(input)"}: ${i.message}`);
    super(Code.Validation, `invalid input: ${list.join("; ")}`, options);
    this.issues = issues;
  }
}

/**
 * The record a call needs does not exist.
 *
 * @example Usage
 * ```ts
 * import { NotFoundError } from "@drydock/statemgmt";
 * const err = new NotFoundError("task", "0b6c1b5e-0000-4000-8000-000000000000");
 * console.log(err.code); // "not_found"
 * ```
 */
export class NotFoundError extends StateError {
  /** The kind of record, e.g. `"task"`. */
  readonly entity: string;
  /** The id that was looked up. */
  readonly id: string;

  /**
   * Creates the error.
   *
   * @param entity The kind of record.
   * @param id The id that was looked up.
   * @param options The cause, if any.
   */
  constructor(entity: string, id: string, options?: StateErrorOptions) {
    super(Code.NotFound, `${entity} ${id} not found`, options);
    this.entity = entity;
    this.id = id;
  }
}

/**
 * A write lost a race: the record changed since it was read (an
 * `expectedVersion` mismatch) or a unique key is already taken.
 *
 * @example Usage
 * ```ts
 * import { ConflictError } from "@drydock/statemgmt";
 * const err = new ConflictError("task 1 is at version 3, expected 2");
 * console.log(err.code); // "conflict"
 * ```
 */
export class ConflictError extends StateError {
  /**
   * Creates the error.
   *
   * @param message What conflicted.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: StateErrorOptions) {
    super(Code.Conflict, message, options);
  }
}

/**
 * The caller's lease is not (or no longer) the current leadership: another
 * instance holds the election, the term moved on, or the lease expired.
 *
 * @example Usage
 * ```ts
 * import { NotLeaderError } from "@drydock/statemgmt";
 * const err = new NotLeaderError("lease of term 3 expired");
 * console.log(err.code); // "not_leader"
 * ```
 */
export class NotLeaderError extends StateError {
  /**
   * Creates the error.
   *
   * @param message Why the lease is not valid.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: StateErrorOptions) {
    super(Code.NotLeader, message, options);
  }
}

/** Why a design reference could not be resolved. */
export type DesignReferenceErrorCode =
  | "invalid_uri"
  | "unsupported_scheme"
  | "not_found"
  | "forbidden_path"
  | "redirect"
  | "http_status"
  | "too_large"
  | "timeout"
  | "network"
  | "integrity";

/** Options of a {@linkcode DesignReferenceError}. */
export interface DesignReferenceErrorOptions extends StateErrorOptions {
  /** The URI being resolved, already redacted. */
  uri?: string;
  /** The HTTP status, for `http_status`. */
  status?: number;
}

/**
 * A design reference could not be resolved. The URI it carries has its
 * credentials replaced by `***`, and no response body is ever quoted.
 *
 * @example Usage
 * ```ts
 * import { DesignReferenceError } from "@drydock/statemgmt";
 * const err = new DesignReferenceError("not_found", "no such file", { uri: "file:///x" });
 * console.log(err.code, err.uri); // "not_found" "file:///x"
 * ```
 */
export class DesignReferenceError extends StateError {
  /** Why it failed. */
  declare readonly code: DesignReferenceErrorCode;
  /** The URI being resolved, redacted; `""` when unknown. */
  readonly uri: string;
  /** The HTTP status, for `http_status`. */
  readonly status?: number;

  /**
   * Creates the error.
   *
   * @param code Why it failed.
   * @param message A description; must not hold secrets.
   * @param options The redacted URI, HTTP status and cause.
   */
  constructor(
    code: DesignReferenceErrorCode,
    message: string,
    options: DesignReferenceErrorOptions = {},
  ) {
    super(code, message, { cause: options.cause });
    this.uri = options.uri ?? "";
    if (options.status !== undefined) this.status = options.status;
  }
}

/**
 * A migration could not be applied, or an applied migration no longer
 * matches its file (checksum changed).
 *
 * @example Usage
 * ```ts
 * import { MigrationError } from "@drydock/statemgmt";
 * const err = new MigrationError("checksum changed", { version: "0001_tasks" });
 * console.log(err.version); // "0001_tasks"
 * ```
 */
export class MigrationError extends StateError {
  /** The migration concerned, if any. */
  readonly version?: string;

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options The migration version and cause.
   */
  constructor(
    message: string,
    options: StateErrorOptions & { version?: string } = {},
  ) {
    super(Code.Migration, message, { cause: options.cause });
    if (options.version !== undefined) this.version = options.version;
  }
}

/**
 * The database cannot be reached, refused the connection or is shutting
 * down: a refused or timed-out connection, a dropped one, a missing
 * database, a failed authentication, a server in recovery or shutting
 * down. Any URL password in the message is replaced by `***`; the
 * driver's error is the `cause`.
 *
 * @example Usage
 * ```ts
 * import { ConnectionError } from "@drydock/statemgmt";
 * const err = new ConnectionError("cannot reach postgres://app:hunter2@db:5432/drydock");
 * console.log(err.code, err.message); // "unavailable" "cannot reach postgres://app:***@db:5432/drydock"
 * ```
 */
export class ConnectionError extends StateError {
  /**
   * Creates the error.
   *
   * @param message What failed; passwords in it are redacted.
   * @param options The driver's error.
   */
  constructor(message: string, options?: StateErrorOptions) {
    super(Code.Unavailable, redactPasswords(message), options);
  }
}

/** `scheme://user:password@…` and `password=…` with the password replaced by `***`. */
function redactPasswords(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):[^@\s]*@/gi, "$1:***@")
    .replace(/\b(password|passwd|pwd)=[^&\s]*/gi, "$1=***");
}
