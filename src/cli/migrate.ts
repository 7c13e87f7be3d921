/**
 * `migrate` and `migrate status`: apply the bundled migrations, or list
 * what is applied and what is pending.
 *
 * @module
 */
import { migrate, migrationStatus } from "../../mod.ts";
import { type Command, type CommandContext, ExitCode, noPositionals } from "./_command.ts";
import { formatTime, table, toJson } from "./_format.ts";

const json = { type: "boolean", help: "print JSON instead of text" } as const;

async function runMigrate(ctx: CommandContext): Promise<ExitCode> {
  noPositionals(ctx);
  const result = await ctx.withDb((sql) => migrate(sql), { migrated: false });
  if (ctx.values.json) ctx.io.out(toJson(result));
  else if (result.applied.length === 0) ctx.io.out(`up to date at ${result.current ?? "-"}`);
  else {
    for (const v of result.applied) ctx.io.out(`applied ${v}`);
    ctx.io.out(`now at ${result.applied.at(-1)}`);
  }
  return ExitCode.Ok;
}

async function runStatus(ctx: CommandContext): Promise<ExitCode> {
  noPositionals(ctx);
  const status = await ctx.withDb((sql) => migrationStatus(sql), { migrated: false });
  if (ctx.values.json) {
    ctx.io.out(toJson(status));
    return ExitCode.Ok;
  }
  const rows = [
    ...status.applied.map((m) => [m.version, "applied", formatTime(m.appliedAt)]),
    ...status.pending.map((v) => [v, "pending", "-"]),
  ];
  table(["VERSION", "STATE", "APPLIED"], rows).forEach(ctx.io.out);
  ctx.io.out(
    status.pending.length === 0
      ? "up to date"
      : `${status.pending.length} pending: run \`statemgmt migrate\``,
  );
  return ExitCode.Ok;
}

/**
 * The `migrate` commands.
 *
 * @example Usage
 * ```ts
 * import { migrateCommands } from "./migrate.ts";
 * console.log(migrateCommands.map((c) => c.path.join(" ")));
 * ```
 */
export const migrateCommands: Command[] = [
  {
    path: ["migrate"],
    summary: "apply the pending migrations (safe to run again, and from several hosts at once)",
    description: "Creates the tables in the URL's search_path schema (default: public).",
    options: { json },
    run: runMigrate,
  },
  {
    path: ["migrate", "status"],
    summary: "list applied and pending migrations, changing nothing",
    options: { json },
    run: runStatus,
  },
];
