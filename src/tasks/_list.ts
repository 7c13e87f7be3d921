/**
 * One keyset page of tasks, shared by `listTasks` and `iterateTasks`. The
 * page's key is the last task's (created, id) as exact values — `created`
 * as text, since a `Date` keeps milliseconds and the column microseconds —
 * so the next page needs no lookup of a task that may have been deleted.
 */
import { type Db, Params, query } from "../db.ts";
import { taskSelect } from "./_rows.ts";
import type { listOptions } from "./_schemas.ts";
import type { Task } from "./types.ts";
import type { z } from "zod";

/** Where a page ends: the last task's exact `created` (as text) and id. */
export interface PageKey {
  created: string;
  id: string;
}

/** A page of tasks and the key after its last one (`null` when empty). */
export interface Page {
  tasks: Task[];
  key: PageKey | null;
}

/**
 * The tasks matching validated `o`, after the task `o.after` (looked up)
 * or after `key` (values).
 */
export async function listPage(
  db: Db,
  o: z.output<typeof listOptions>,
  key?: PageKey,
): Promise<Page> {
  const select = taskSelect(o.messages);
  const q = new Params();
  const where = ["true"];
  if (o.status !== undefined) {
    const statuses = [o.status].flat().map((v) => `${q.add(v)}::text`);
    where.push(`t.status IN (${statuses.join(", ")})`);
  }
  if (o.action) where.push(`t.action = ${q.add(o.action)}::text`);
  if (o.parentTaskId) where.push(`t.parent_task_id = ${q.add(o.parentTaskId)}::uuid`);
  if (key) {
    // As text: postgres.js sends a timestamptz parameter through Date, which drops microseconds.
    const created = `${q.add(key.created)}::text::timestamptz`;
    where.push(`(t.created, t.id) > (${created}, ${q.add(key.id)}::uuid)`);
  } else if (o.after) {
    const after = q.add(o.after);
    where.push(
      `(t.created, t.id) > (SELECT a.created, a.id FROM tasks a WHERE a.id = ${after}::uuid)`,
    );
  }
  const rows = await query(
    db,
    `SELECT ${select.sql}, t.created::text AS page_created FROM tasks t
    WHERE ${where.join(" AND ")}
    ORDER BY t.created, t.id
    LIMIT ${q.add(o.limit)}::int`,
    q.values,
  );
  const last = rows.at(-1);
  return {
    tasks: rows.map(select.map),
    key: last ? { created: last.page_created, id: last.id } : null,
  };
}
