/**
 * `POST /api/v1.0/bootactions/{action_id}`: the report an unmanned node
 * sends on a boot action. It carries no API token; the node proves itself
 * with `X-Bootaction-Key`, the hex of the action's 32-byte identity key,
 * compared in constant time. The key is never logged nor echoed (Drydock
 * logged it on every mismatch).
 *
 * @module
 */
import { getBootAction, identityKeysEqual } from "../boot_actions.ts";
import type { ActionResult } from "../tasks.ts";
import { readJsonObject } from "./_body.ts";
import { applyBootActionReport, type ReportDetail } from "./_boot_report.ts";
import type { RouteContext } from "./_context.ts";
import { errorResponse, HttpError, json } from "./_respond.ts";
import { bootActionDict } from "./_shapes.ts";
import { hasBadText } from "./_task_body.ts";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;
const HEX_KEY = /^[0-9a-f]{64}$/i;
const MAX_DETAILS = 1000;

/** The presented key's bytes; a malformed header is a wrong key (32 zero bytes never match a live key's compare). */
function presentedKey(header: string): Uint8Array {
  if (!HEX_KEY.test(header)) return new Uint8Array(0);
  return Uint8Array.from(header.match(/../g)!, (h) => parseInt(h, 16));
}

/** 401 without a key, 404 for an unknown action, 403 for a wrong key, 400 for a bad body, 409 once final. */
export async function bootActionReportRoute(ctx: RouteContext): Promise<Response> {
  const key = ctx.request.headers.get("x-bootaction-key") ?? "";
  if (key === "") {
    return errorResponse(401, "No X-Bootaction-Key", {
      headers: { "www-authenticate": "Bootaction-Key" },
    });
  }
  const actionId = ctx.params.action_id;
  if (!ULID.test(actionId)) throw new HttpError(400, "action id must be a ULID");
  const action = await getBootAction(ctx.sql, actionId);
  if (!action) return errorResponse(404, `Boot action ${actionId.toUpperCase()} not found`);
  if (!identityKeysEqual(action.identityKey, presentedKey(key))) {
    return errorResponse(403, "Invalid X-Bootaction-Key");
  }
  const body = await readJsonObject(ctx.request, ctx.options.maxBodyBytes);
  const { status, details } = validateReport(body);
  const accepted = await applyBootActionReport(ctx.sql, action, status, details);
  if (!accepted) {
    return errorResponse(
      409,
      `Action ${action.actionId} status finalized, not available for update.`,
    );
  }
  const after = await getBootAction(ctx.sql, action.actionId);
  return json(200, bootActionDict(after ?? action));
}

/** Drydock's report schema: `status` success/failure (any case), `details` of `{message, error, …}`. */
function validateReport(body: Record<string, unknown>): {
  status: ActionResult | null;
  details: ReportDetail[];
} {
  const issues: string[] = [];
  for (const k of Object.keys(body)) {
    if (k !== "status" && k !== "details") issues.push(`${k.slice(0, 64)}: unknown field`);
  }
  let status: ActionResult | null = null;
  if (body.status !== undefined) {
    const s = typeof body.status === "string" ? body.status.toLowerCase() : null;
    if (s === "success" || s === "failure") status = s;
    else issues.push("status: must be success or failure");
  }
  const details: ReportDetail[] = [];
  if (body.details !== undefined) {
    if (!Array.isArray(body.details)) issues.push("details: must be an array");
    else if (body.details.length > MAX_DETAILS) issues.push(`details: at most ${MAX_DETAILS}`);
    else body.details.forEach((d, i) => details.push(...checkDetail(d, i, issues)));
  }
  if (issues.length > 0) throw new HttpError(400, `Error processing body: ${issues.join("; ")}`);
  return { status, details };
}

function checkDetail(d: unknown, i: number, issues: string[]): ReportDetail[] {
  if (typeof d !== "object" || d === null || Array.isArray(d)) {
    issues.push(`details.${i}: must be an object`);
    return [];
  }
  const { message, error, ...rest } = d as Record<string, unknown>;
  const before = issues.length;
  if (typeof message !== "string") issues.push(`details.${i}.message: must be a string`);
  else if (message.length > 65_536) issues.push(`details.${i}.message: too long`);
  if (typeof error !== "boolean") issues.push(`details.${i}.error: must be a boolean`);
  if (hasBadText(d)) issues.push(`details.${i}: must not hold NUL or lone surrogates`);
  if (issues.length > before) return [];
  const extra = Object.keys(rest).length > 0 ? rest : null;
  return [{ message: message as string, error: error as boolean, extra }];
}
