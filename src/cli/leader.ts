/**
 * `leader`: who leads an election, under which term, until when.
 *
 * @module
 */
import { getLeader } from "../../mod.ts";
import { type Command, type CommandContext, ExitCode, noPositionals } from "./_command.ts";
import { formatDuration, formatTime, table, toJson } from "./_format.ts";

async function runLeader(ctx: CommandContext): Promise<ExitCode> {
  noPositionals(ctx);
  const election = (ctx.values.election as string | undefined) ?? "default";
  const lease = await ctx.withDb((sql) => getLeader(sql, election));
  if (ctx.values.json) ctx.io.out(toJson(lease));
  else if (!lease) ctx.io.err(`no current leader of election "${election}"`);
  else {
    const left = lease.expiresAt.getTime() - Date.now();
    table(null, [
      ["election", lease.election],
      ["holder", lease.holder],
      ["term", String(lease.term)],
      [
        "expires",
        `${formatTime(lease.expiresAt)} (${
          left >= 0 ? `in ${formatDuration(left)}` : "now"
        }, by this host's clock; the holder renews it)`,
      ],
    ]).forEach(ctx.io.out);
  }
  return lease ? ExitCode.Ok : ExitCode.NotFound;
}

/**
 * The `leader` command.
 *
 * @example Usage
 * ```ts
 * import { leaderCommands } from "./leader.ts";
 * console.log(leaderCommands[0].summary);
 * ```
 */
export const leaderCommands: Command[] = [{
  path: ["leader"],
  summary: "show the current leader: holder, term (the fencing token) and expiry",
  description: "Exits 3 when no instance holds a live lease.",
  options: {
    election: { type: "string", value: "NAME", help: 'the election (default "default")' },
    json: { type: "boolean", help: "print the lease as JSON (null when there is none)" },
  },
  run: runLeader,
}];
