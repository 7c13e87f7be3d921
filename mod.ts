/**
 * `@drydock/statemgmt`: the persisted state of a bare-metal provisioning
 * orchestrator on PostgreSQL — tasks and their result messages, build data
 * and boot actions, leader election with fencing tokens, and a registry of
 * design-reference resolvers.
 *
 * Every data function takes the connection first (`fn(db, …)`): a
 * postgres.js pool, or the `tx` inside `sql.begin(tx => …)` so several
 * calls compose in one transaction.
 *
 * @example Usage
 * ```ts ignore
 * import postgres from "postgres";
 * import { appendResultMessage, claimNextTask, createTask, getTask, migrate, updateTask }
 *   from "@drydock/statemgmt";
 *
 * const sql = postgres(Deno.env.get("DATABASE_URL")!);
 * await migrate(sql);
 * const task = await createTask(sql, { action: "deploy_nodes", status: "queued" });
 * const claimed = await claimNextTask(sql, { claimedBy: "worker-1" });
 * await appendResultMessage(sql, claimed!.id, { message: "node01 deployed" });
 * await updateTask(sql, claimed!.id, { status: "complete", result: { status: "success" } });
 * console.log(await getTask(sql, task.id));
 * await sql.end();
 * ```
 *
 * @module
 */
export type { Db, PostgresSql, PostgresTransactionSql, Sql } from "./src/db.ts";
export * from "./src/errors.ts";
export * from "./src/migrate.ts";
export * from "./src/tasks.ts";
export * from "./src/lifecycle.ts";
export * from "./src/events.ts";
export * from "./src/result_messages.ts";
export * from "./src/build_data.ts";
export * from "./src/boot_actions.ts";
export * from "./src/leadership/lease.ts";
export * from "./src/leadership/elector.ts";
export * from "./src/design/registry.ts";
export * from "./src/design/file.ts";
export * from "./src/design/http.ts";
export * from "./src/design/deckhand.ts";
