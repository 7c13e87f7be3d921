/**
 * Recording a task's outcome entity by entity: Drydock's
 * `success(focus)` / `failure(focus)` votes and result links, in one
 * statement, so two workers reporting on one task keep each other's.
 *
 * @module
 */
import { z } from "zod";
import { type Db, Params, query } from "../db.ts";
import { NotFoundError } from "../errors.ts";
import { parse } from "../_validation.ts";
import { leaseSchema, pgText, taskId } from "../_schemas.ts";
import { FENCE_HOLDS, fencedRows, fencedSql } from "../leadership/fence.ts";
import { TASK } from "../tasks/_rows.ts";
import type { Task } from "../tasks/types.ts";
import type { LeaseOptions, RecordResultInput } from "./types.ts";

const entities = z.array(pgText(256).min(1)).max(10_000);
const recordInput = z.strictObject({
  successes: entities.default([]),
  failures: entities.default([]),
  links: z.array(z.strictObject({
    rel: pgText(64).min(1),
    href: pgText(2048).min(1),
  })).max(1000).default([]),
});
/** Options that only fence a write. */
export const leaseOptions = z.strictObject({ lease: leaseSchema.optional() });

/**
 * Appends entities to a task's result and applies their votes, in one
 * statement (DESIGN.md, "Outcome votes"): "a success entity moves failure
 * or partial_success to partial_success and anything else to success; a
 * failure entity moves success or partial_success to partial_success and
 * anything else to failure. Entities are appended once each, in order."
 * Links are appended unless the same `rel` and `href` are there. Two
 * workers recording at once both keep their entities: the second one's
 * update reads the row the first one wrote.
 *
 * @param db A pool or transaction.
 * @param id The task.
 * @param input Entities that succeeded, that failed, and links.
 * @param opts A lease to fence the write.
 * @returns The task after the write.
 * @throws {ValidationError} Bad input; nothing written.
 * @throws {NotFoundError} No such task.
 * @throws {NotLeaderError} `lease` is no longer the current leadership.
 *
 * @example Usage
 * ```ts ignore
 * await recordResult(sql, task.id, {
 *   successes: ["node01"],
 *   links: [{ rel: "log", href: "https://maas.example/log/node01" }],
 * });
 * ```
 */
export async function recordResult(
  db: Db,
  id: string,
  input: RecordResultInput,
  opts: LeaseOptions = {},
): Promise<Task> {
  const tid = parse(taskId, id);
  const r = parse(recordInput, input);
  const { lease } = parse(leaseOptions, opts);
  const q = new Params();
  const up = r.successes.length > 0;
  const down = r.failures.length > 0;
  // The status after the success votes, then the failure votes.
  const status = `CASE
      WHEN ${down} AND (${up} OR t.result_status IN ('success', 'partial_success'))
        THEN 'partial_success'
      WHEN ${down} THEN 'failure'
      WHEN ${up} AND t.result_status IN ('failure', 'partial_success') THEN 'partial_success'
      WHEN ${up} THEN 'success'
      ELSE t.result_status END`;
  const update = `UPDATE tasks t SET
      result_status = ${status},
      result_successes = t.result_successes || ${newEntities(q, "t.result_successes", r.successes)},
      result_failures = t.result_failures || ${newEntities(q, "t.result_failures", r.failures)},
      result_links = t.result_links || coalesce((
        SELECT jsonb_agg(l.v ORDER BY l.n) FROM (
          SELECT DISTINCT ON (x.v) x.v, x.n
          FROM jsonb_array_elements(${q.add(JSON.stringify(r.links))}::text::jsonb)
               WITH ORDINALITY AS x(v, n)
          WHERE NOT t.result_links @> jsonb_build_array(x.v)
          ORDER BY x.v, x.n) l), '[]'),
      updated = clock_timestamp(), version = t.version + 1
    WHERE t.id = ${q.add(tid)}::uuid ${lease ? `AND ${FENCE_HOLDS}` : ""}
    RETURNING ${TASK.sql}`;
  const rows = lease
    ? fencedRows(await query(db, fencedSql(q, lease, `w AS (${update})`, "w"), q.values), lease)
    : await query(db, update, q.values);
  if (rows.length === 0) throw new NotFoundError("task", tid);
  return TASK.map(rows[0]);
}

/**
 * The entities of `values` not yet in `column`, each once, in the order
 * given: a `text[]`. The values travel as one JSON parameter (DESIGN.md,
 * pitfalls: `text[]` parameters on a fresh connection).
 */
function newEntities(q: Params, column: string, values: string[]): string {
  return `ARRAY(
        SELECT e.v FROM (
          SELECT x.v, min(x.n) AS n
          FROM jsonb_array_elements_text(${q.add(JSON.stringify(values))}::text::jsonb)
               WITH ORDINALITY AS x(v, n)
          WHERE x.v <> ALL(${column})
          GROUP BY x.v) e
        ORDER BY e.n)`;
}
