/**
 * Reading typed option values, with usage errors that name the option.
 *
 * @module
 */
import { type CommandContext, UsageError } from "./_command.ts";
import { parseDuration } from "./_format.ts";

/**
 * A duration option (`--timeout 10m`) in milliseconds, or `null` when not given.
 *
 * @param ctx The command's context.
 * @param name The option's name.
 * @returns Milliseconds, or `null`.
 * @throws {UsageError} The value is not a duration.
 *
 * @example Usage
 * ```ts ignore
 * const staleAfterMs = durationOption(ctx, "stale-after");
 * ```
 */
export function durationOption(ctx: CommandContext, name: string): number | null {
  const raw = ctx.values[name];
  if (raw === undefined) return null;
  const ms = parseDuration(String(raw));
  if (ms === null) {
    throw new UsageError(
      `--${name} takes a duration such as 30s, 10m, 2h or 1h30m, not "${raw}"`,
    );
  }
  return ms;
}
