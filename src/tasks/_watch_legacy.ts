// TEMPORARY: the NOTIFY-based watch, until src/events.ts lands.
import { assertSql, type Sql } from "../db.ts";
import type { TaskStatus } from "./types.ts";

/** What {@linkcode watchTasks} reports. */
export interface TaskEvent {
  /** The task. */
  taskId: string;
  /** Its new status. */
  status: TaskStatus;
  /** Its action. */
  action: string;
}

/** A running subscription of {@linkcode watchTasks}. */
export interface TaskWatch {
  /** Stops the subscription. */
  unlisten(): Promise<void>;
}

/**
 * Subscribes to task events through LISTEN/NOTIFY.
 *
 * @param sql A pool (not a transaction).
 * @param onEvent Called with each event.
 * @returns The subscription; call `unlisten()` to stop it.
 */
export async function watchTasks(
  sql: Sql,
  onEvent: (event: TaskEvent) => void,
): Promise<TaskWatch> {
  assertSql(sql, "watchTasks");
  const [{ schema }] = await sql`SELECT current_schema() AS schema`;
  const sub = await sql.listen(`statemgmt_tasks:${schema}`, (payload: string) => {
    for (const [taskId, status, action] of JSON.parse(payload) as string[][]) {
      onEvent({ taskId, status: status as TaskStatus, action });
    }
  });
  return { unlisten: () => sub.unlisten() };
}
