/**
 * The operator CLI of `@drydock/statemgmt`: migrate a database, list,
 * inspect, follow, requeue and terminate tasks, see the leader, rescue
 * stale work. A thin layer over the public API.
 *
 * ```sh
 * export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
 * deno run -A jsr:@drydock/statemgmt/cli migrate
 * deno run -A jsr:@drydock/statemgmt/cli tasks list --status queued
 * deno run -A jsr:@drydock/statemgmt/cli tasks tail 0d9e…
 * ```
 *
 * Exit codes: 0 done, 1 runtime failure (no database, not migrated, a
 * query failed, a time-out), 2 usage error, 3 not found, 4 conflict (the
 * task's state does not allow it). `--help` on every command.
 *
 * Run as the main module, it runs {@linkcode main} on the process's
 * arguments; imported, it only exports it.
 *
 * @example Usage
 * ```ts ignore
 * import { ExitCode, main } from "@drydock/statemgmt/cli";
 * const code = await main(["leader", "--json"]);
 * if (code === ExitCode.NotFound) console.log("no leader");
 * ```
 *
 * @module
 */
import process from "node:process";
import { pathToFileURL } from "node:url";
import { main } from "./main.ts";

export { type CliIo, ExitCode, main } from "./main.ts";

// import.meta.main: Deno, Bun, and Node since 24.2 (and recent 22.x);
// older Node compares the script it was started with.
function isMainModule(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main;
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(entry).href === import.meta.url;
}

if (isMainModule()) process.exitCode = await main(process.argv.slice(2));
