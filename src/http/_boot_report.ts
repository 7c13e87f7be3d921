/**
 * A boot-action report as one transaction: the status change is a
 * compare-and-set in SQL (`… WHERE action_status NOT IN <final>`), so of
 * two reports racing to finish an action exactly one wins, and a report
 * after the final status changes nothing. `setBootActionStatus` sets any
 * status over any other by design ("the API layer decides"), so the
 * decision lives here. The details are appended as result messages of the
 * action's task in the same transaction: a refused report writes nothing.
 *
 * @module
 */
import { query, type Sql } from "../db.ts";
import { appendResultMessages, type TaskResultMessageInput } from "../result_messages.ts";
import type { ActionResult } from "../tasks.ts";

/** The statuses after which a boot action takes no more reports (Drydock: all but incomplete). */
export const FINAL_STATUSES: readonly ActionResult[] = [
  "success",
  "failure",
  "partial_success",
  "unreported",
];

// The row lock of this UPDATE orders concurrent reports on one action; with
// no new status it still takes the lock and checks finality, so details
// cannot slip in after a final report commits.
const CAS = `
    UPDATE boot_action_statuses
    SET action_status = coalesce($2::text, action_status)
    WHERE action_id = $1::text
      AND action_status NOT IN (SELECT jsonb_array_elements_text($3::text::jsonb))
    RETURNING action_status`;

/** One detail of a report, already checked. */
export interface ReportDetail {
  message: string;
  error: boolean;
  extra: Record<string, unknown> | null;
}

/**
 * Applies a report: `true` when it was accepted (status set, details
 * appended), `false` when the action's status was already final.
 *
 * @param sql The pool.
 * @param action The action (its id canonical, its task id).
 * @param status The new status, or `null` for details only.
 * @param details The messages to append.
 * @returns Whether the report was accepted.
 */
export async function applyBootActionReport(
  sql: Sql,
  action: { actionId: string; taskId: string },
  status: ActionResult | null,
  details: ReportDetail[],
): Promise<boolean> {
  return await sql.begin(async (tx) => {
    const rows = await query(tx, CAS, [action.actionId, status, JSON.stringify(FINAL_STATUSES)]);
    if (rows.length === 0) return false;
    const messages: TaskResultMessageInput[] = details.map((d) => ({
      taskId: action.taskId,
      message: d.message,
      error: d.error,
      context: action.actionId,
      contextType: "bootaction",
      extra: d.extra ?? undefined,
    }));
    if (messages.length > 0) await appendResultMessages(tx, messages);
    return true;
  });
}
