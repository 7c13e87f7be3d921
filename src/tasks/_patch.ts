/** The SET list of a task patch, shared by every statement that applies one. */
import { jsonParam, type Params, textArraySql } from "../db.ts";
import type { ValidTaskPatch } from "./_schemas.ts";

/** The SET list of a validated patch as text (the fields given, plus version and updated). */
export function patchSet(q: Params, p: ValidTaskPatch): string {
  const sets = ["version = t.version + 1", "updated = clock_timestamp()"];
  const set = (column: string, value: unknown, cast: string) =>
    sets.push(`${column} = ${q.add(value)}::${cast}`);
  if (p.status !== undefined) set("status", p.status, "text");
  if (p.retry !== undefined) set("retry", p.retry, "int");
  if (p.designRef !== undefined) set("design_ref", p.designRef, "text");
  if (p.nodeFilter !== undefined) set("node_filter", jsonParam(p.nodeFilter), "text::jsonb");
  if (p.requestContext !== undefined) {
    set("request_context", jsonParam(p.requestContext), "text::jsonb");
  }
  const r = p.result ?? {};
  if (r.status !== undefined) set("result_status", r.status, "text");
  if (r.message !== undefined) set("result_message", r.message, "text");
  if (r.reason !== undefined) set("result_reason", r.reason, "text");
  if (r.successes !== undefined) sets.push(`result_successes = ${textArraySql(q, r.successes)}`);
  if (r.failures !== undefined) sets.push(`result_failures = ${textArraySql(q, r.failures)}`);
  return sets.join(", ");
}
