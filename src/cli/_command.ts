/**
 * What every command of the CLI shares: exit codes, the usage error, the
 * output and the shape of a command.
 *
 * @module
 */
import type { Sql } from "../db.ts";

/**
 * The exit codes a script can rely on.
 *
 * @example Usage
 * ```ts
 * import { ExitCode } from "./_command.ts";
 * console.log(ExitCode.NotFound); // 3
 * ```
 */
export const ExitCode = {
  /** Done. */
  Ok: 0,
  /** A runtime failure: no database, not migrated, a query failed, a time-out. */
  Failure: 1,
  /** A usage error: unknown command or option, bad value, missing argument. */
  Usage: 2,
  /** The task (or leader) asked for does not exist. */
  NotFound: 3,
  /** The task's state does not allow the change, or another writer won a race. */
  Conflict: 4,
} as const;

/** One of the {@linkcode ExitCode} values. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/**
 * A failure the CLI reports in one line, exiting with its code: the
 * message says what to do.
 *
 * @example Usage
 * ```ts
 * import { CliError, ExitCode } from "./_command.ts";
 * const err = new CliError("no task 42", ExitCode.NotFound);
 * console.log(err.exitCode);
 * ```
 */
export class CliError extends Error {
  /** The exit code the CLI ends with. */
  readonly exitCode: ExitCode;

  /**
   * Creates the error.
   *
   * @param message What went wrong and what to do.
   * @param exitCode The exit code.
   * @param options The cause, if any.
   */
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/**
 * A mistake in the command line; the CLI prints it with a hint to `--help`
 * and exits with {@linkcode ExitCode.Usage}.
 *
 * @example Usage
 * ```ts
 * import { UsageError } from "./_command.ts";
 * const err = new UsageError("missing task id");
 * console.log(err.message);
 * ```
 */
export class UsageError extends CliError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, said so that the fix is plain.
   */
  constructor(message: string) {
    super(message, ExitCode.Usage);
  }
}

/** Where the CLI writes and what it reads from its environment. */
export interface CliIo {
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of diagnostics. */
  err(line: string): void;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
}

/** A parseArgs option declaration. */
export interface OptionSpec {
  /** `"boolean"` for a flag, `"string"` for a value. */
  type: "boolean" | "string";
  /** A one-letter alias. */
  short?: string;
  /** The option may be given several times. */
  multiple?: boolean;
  /** The value shown in the help text, e.g. `"DURATION"`. */
  value?: string;
  /** One line for the help text. */
  help: string;
}

/** What a command's `run` gets. */
export interface CommandContext {
  /** Output and environment. */
  io: CliIo;
  /** The parsed options. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The positional arguments after the command's name. */
  positionals: string[];
  /** Opens a pool on the database (checked to be migrated unless told), runs `fn`, ends the pool. */
  withDb<T>(fn: (sql: Sql) => Promise<T>, opts?: { migrated?: boolean }): Promise<T>;
}

/** One command: its words, help and action. */
export interface Command {
  /** The words that name it, e.g. `["tasks", "list"]`. */
  path: string[];
  /** Positional arguments for the usage line, e.g. `"ID"`. */
  args?: string;
  /** One line for the command list. */
  summary: string;
  /** More help, shown by `--help`. */
  description?: string;
  /** Options besides the global ones. */
  options?: Record<string, OptionSpec>;
  /** Runs the command; returns its exit code. */
  run(ctx: CommandContext): Promise<ExitCode>;
}

/**
 * The one positional argument a command takes (a task id), or a {@linkcode UsageError}.
 *
 * @param ctx The command's context.
 * @param name What the argument is, for the message.
 * @returns The argument.
 *
 * @example Usage
 * ```ts ignore
 * const id = onePositional(ctx, "task id");
 * ```
 */
export function onePositional(ctx: CommandContext, name: string): string {
  if (ctx.positionals.length === 0) throw new UsageError(`missing ${name}`);
  if (ctx.positionals.length > 1) {
    throw new UsageError(`unexpected argument: ${ctx.positionals[1]}`);
  }
  return ctx.positionals[0];
}

/**
 * No positional arguments, or a {@linkcode UsageError} naming the first.
 *
 * @param ctx The command's context.
 *
 * @example Usage
 * ```ts ignore
 * noPositionals(ctx);
 * ```
 */
export function noPositionals(ctx: CommandContext): void {
  if (ctx.positionals.length > 0) {
    throw new UsageError(`unexpected argument: ${ctx.positionals[0]}`);
  }
}
