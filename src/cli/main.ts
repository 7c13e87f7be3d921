/**
 * The CLI's dispatcher: finds the command named by the leading words,
 * parses its options with `node:util`'s `parseArgs`, runs it and turns
 * every failure into one line on stderr and an {@linkcode ExitCode}.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { ConflictError, NotFoundError, StateError, ValidationError } from "../../mod.ts";
import {
  CliError,
  type CliIo,
  type Command,
  type CommandContext,
  ExitCode,
  type OptionSpec,
  UsageError,
} from "./_command.ts";
import { databaseUrl, withDatabase } from "./_db.ts";
import { commandHelp, GLOBAL_OPTIONS, groupHelp, overview, PROGRAM } from "./_help.ts";
import { leaderCommands } from "./leader.ts";
import { migrateCommands } from "./migrate.ts";
import { recoverCommands } from "./recover.ts";
import { tailCommands } from "./tail.ts";
import { tasksCommands } from "./tasks.ts";

export { type CliIo, ExitCode } from "./_command.ts";

/**
 * Every command, in the order the help lists them.
 *
 * @example Usage
 * ```ts
 * import { COMMANDS } from "./main.ts";
 * console.log(COMMANDS.map((c) => c.path.join(" ")));
 * ```
 */
export const COMMANDS: Command[] = [
  ...migrateCommands,
  ...tasksCommands,
  ...tailCommands,
  ...leaderCommands,
  ...recoverCommands,
];

/**
 * The console and the process environment, as the CLI uses them by default.
 *
 * @returns The default {@linkcode CliIo}.
 *
 * @example Usage
 * ```ts ignore
 * await main(["leader"], processIo());
 * ```
 */
export function processIo(): CliIo {
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    env: (name) => process.env[name],
  };
}

/**
 * Runs the CLI on `args` (the words after the program's name).
 *
 * @param args The command line, e.g. `["tasks", "list", "--status", "queued"]`.
 * @param io Where output goes and how the environment is read.
 * @returns The exit code: 0 ok, 1 runtime failure, 2 usage error, 3 not found, 4 conflict.
 *
 * @example Usage
 * ```ts ignore
 * import { main } from "@drydock/statemgmt/cli";
 * const code = await main(["tasks", "list", "--status", "queued", "--json"]);
 * ```
 */
export async function main(args: string[], io: CliIo = processIo()): Promise<ExitCode> {
  const [lead, rest] = takeLeadingUrl(args);
  const firstOption = rest.findIndex((a) => a.startsWith("-"));
  const words = firstOption < 0 ? rest : rest.slice(0, firstOption);
  const cmd = findCommand(words);
  if (!cmd) return helpFor(words, rest, io);
  const tail = [...lead, ...rest.slice(cmd.path.length)];
  try {
    const ctx = context(cmd, tail, io);
    if (ctx.values.help) {
      commandHelp(cmd).forEach(io.out);
      return ExitCode.Ok;
    }
    return await cmd.run(ctx);
  } catch (err) {
    return report(err, cmd, io);
  }
}

// `statemgmt --url X tasks list`: a leading --url is the one option
// allowed before the command's words.
function takeLeadingUrl(args: string[]): [string[], string[]] {
  if (args[0] === "--url" && args.length > 1) return [args.slice(0, 2), args.slice(2)];
  if (args[0]?.startsWith("--url=")) return [args.slice(0, 1), args.slice(1)];
  return [[], args];
}

function findCommand(words: string[]): Command | undefined {
  return COMMANDS
    .filter((c) => c.path.every((w, i) => words[i] === w))
    .sort((a, b) => b.path.length - a.path.length)[0];
}

function helpFor(words: string[], rest: string[], io: CliIo): ExitCode {
  const asked = rest.includes("--help") || rest.includes("-h") || words[0] === "help";
  const group = COMMANDS.filter((c) => c.path.length > 1 && c.path[0] === words[0]);
  const print = asked ? io.out : io.err;
  if (words.length > 0 && words[0] !== "help" && (group.length === 0 || words.length > 1)) {
    io.err(`error: unknown command "${words.join(" ")}"`);
    io.err(`run "${PROGRAM} --help" for the list of commands`);
    return ExitCode.Usage;
  }
  (group.length > 0 ? groupHelp(words[0], group) : overview(COMMANDS)).forEach(print);
  return asked ? ExitCode.Ok : ExitCode.Usage;
}

function context(cmd: Command, args: string[], io: CliIo): CommandContext {
  const specs: Record<string, OptionSpec> = { ...(cmd.options ?? {}), ...GLOBAL_OPTIONS };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), multiple: o.multiple ?? false },
    ]),
  );
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options,
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as CommandContext["values"];
  return {
    io,
    values,
    positionals: parsed.positionals,
    withDb: (fn, opts) =>
      withDatabase(databaseUrl(values.url as string | undefined, io.env), fn, opts),
  };
}

function report(err: unknown, cmd: Command, io: CliIo): ExitCode {
  const [code, message] = classify(err);
  io.err(`error: ${message}`);
  if (code === ExitCode.Usage) io.err(`run "${PROGRAM} ${cmd.path.join(" ")} --help" for usage`);
  return code;
}

function classify(err: unknown): [ExitCode, string] {
  if (err instanceof CliError) return [err.exitCode, err.message];
  if (err instanceof ValidationError) {
    const issues = err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    return [ExitCode.Usage, `invalid input: ${issues.join("; ") || err.message}`];
  }
  if (err instanceof NotFoundError) return [ExitCode.NotFound, err.message];
  if (err instanceof ConflictError) return [ExitCode.Conflict, err.message];
  if (err instanceof StateError) return [ExitCode.Failure, `${err.message} (${err.code})`];
  const message = err instanceof Error ? err.message : String(err);
  // Deno without a permission the CLI needs: say which flags it takes.
  if ((err as Error)?.name === "NotCapable" || /Requires \w+ access/.test(message)) {
    return [ExitCode.Failure, `${message} (the CLI needs --allow-net and --allow-env)`];
  }
  return [ExitCode.Failure, message];
}
