/**
 * The CLI's help texts: the overview with every command, environment and
 * exit code, and each command's usage with its options.
 *
 * @module
 */
import type { Command, OptionSpec } from "./_command.ts";
import { table } from "./_format.ts";

/** The name the help texts use for the program. */
export const PROGRAM = "statemgmt";

/**
 * Options every command takes.
 *
 * @example Usage
 * ```ts
 * import { GLOBAL_OPTIONS } from "./_help.ts";
 * console.log(Object.keys(GLOBAL_OPTIONS));
 * ```
 */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: "string",
    value: "URL",
    help: "PostgreSQL URL, e.g. postgres://user@host:5432/db?search_path=site1 " +
      "(default: $DATABASE_URL)",
  },
  help: { type: "boolean", short: "h", help: "show this help" },
};

/**
 * The overview: usage, commands, environment and exit codes.
 *
 * @param commands Every command.
 * @returns The lines.
 *
 * @example Usage
 * ```ts ignore
 * overview(COMMANDS).forEach((l) => console.log(l));
 * ```
 */
export function overview(commands: Command[]): string[] {
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    "",
    "Operate a @drydock/statemgmt database: migrate it, inspect and steer tasks,",
    "see the leader, rescue stale work. From JSR: deno run -A jsr:@drydock/statemgmt/cli",
    "",
    "Commands:",
    ...indent(table(null, commands.map((c) => [usageOf(c), c.summary]))),
    "",
    "Run `" + PROGRAM + " <command> --help` for a command's options.",
    "",
    "Environment:",
    "  DATABASE_URL  the database, when --url is not given (PG* variables also apply)",
    "",
    "Exit codes:",
    "  0  done",
    "  1  runtime failure: no database, not migrated, a query failed, a time-out",
    "  2  usage error: unknown command or option, bad value, missing argument",
    "  3  not found: no such task, or no current leader",
    "  4  conflict: the task's state does not allow it, or another writer won a race",
  ];
}

/**
 * One command's help: usage line, description and options.
 *
 * @param cmd The command.
 * @returns The lines.
 *
 * @example Usage
 * ```ts ignore
 * commandHelp(cmd).forEach((l) => console.log(l));
 * ```
 */
export function commandHelp(cmd: Command): string[] {
  const options = { ...(cmd.options ?? {}), ...GLOBAL_OPTIONS };
  const rows = Object.entries(options).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : ""}--${name}${o.value ? ` ${o.value}` : ""}`,
    o.help + (o.multiple ? " (repeatable)" : ""),
  ]);
  return [
    `Usage: ${PROGRAM} ${usageOf(cmd)} [options]`,
    "",
    cmd.summary,
    ...(cmd.description ? ["", ...cmd.description.split("\n")] : []),
    "",
    "Options:",
    ...indent(table(null, rows)),
  ];
}

/**
 * A group's help: the commands under a word such as `tasks`.
 *
 * @param word The group's word.
 * @param commands The commands in it.
 * @returns The lines.
 *
 * @example Usage
 * ```ts ignore
 * groupHelp("tasks", tasksCommands).forEach((l) => console.log(l));
 * ```
 */
export function groupHelp(word: string, commands: Command[]): string[] {
  return [
    `Usage: ${PROGRAM} ${word} <command> [options]`,
    "",
    "Commands:",
    ...indent(table(null, commands.map((c) => [usageOf(c), c.summary]))),
  ];
}

function usageOf(cmd: Command): string {
  return [...cmd.path, cmd.args ?? ""].join(" ").trim();
}

function indent(lines: string[]): string[] {
  return lines.map((l) => `  ${l}`);
}
