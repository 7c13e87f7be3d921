/**
 * The body of `POST /tasks`, checked field by field in the API's own names
 * (`design_ref`, not `designRef`) before anything is written.
 *
 * @module
 */
import { HttpError } from "./_respond.ts";

const ACTION = /^[a-z][a-z0-9_]*$/;
const FIELDS = ["action", "design_ref", "node_filter"];

/** The task a valid body asks for. */
export interface TaskBody {
  action: string;
  designRef: string;
  nodeFilter: Record<string, unknown> | null;
}

/** Whether `value` holds text PostgreSQL cannot store: NUL or a lone surrogate, keys included. */
export function hasBadText(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\0") || !value.isWellFormed();
  if (Array.isArray(value)) return value.some(hasBadText);
  if (value && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => hasBadText(k) || hasBadText(v));
  }
  return false;
}

/**
 * Checks a create-task body; throws 400 naming every bad field.
 *
 * @param body The parsed JSON object.
 * @param actions The accepted actions, or `null` for any identifier.
 * @returns The task to create.
 */
export function validateTaskBody(
  body: Record<string, unknown>,
  actions: ReadonlySet<string> | null,
): TaskBody {
  const issues: string[] = [];
  const { action, design_ref: designRef, node_filter: nodeFilter } = body;
  for (const key of Object.keys(body)) {
    if (!FIELDS.includes(key)) issues.push(`${key.slice(0, 64)}: unknown field`);
  }
  if (action === undefined || action === null) issues.push("action: required");
  else if (typeof action !== "string") issues.push("action: must be a string");
  else if (action.length > 64 || !ACTION.test(action)) {
    issues.push("action: must be a lowercase identifier (a-z, 0-9, _) of at most 64 characters");
  } else if (actions && !actions.has(action)) issues.push(`action: unsupported action ${action}`);
  if (designRef === undefined || designRef === null) issues.push("design_ref: required");
  else if (typeof designRef !== "string" || designRef.length === 0) {
    issues.push("design_ref: must be a non-empty string");
  } else if (designRef.length > 2048) issues.push("design_ref: at most 2048 characters");
  else if (hasBadText(designRef)) issues.push("design_ref: must not hold NUL or lone surrogates");
  if (nodeFilter !== undefined && nodeFilter !== null) {
    if (typeof nodeFilter !== "object" || Array.isArray(nodeFilter)) {
      issues.push("node_filter: must be an object or null");
    } else if (hasBadText(nodeFilter)) {
      issues.push("node_filter: must not hold NUL or lone surrogates");
    }
  }
  if (issues.length > 0) {
    throw new HttpError(400, `Task creation requires valid fields: ${issues.join("; ")}`);
  }
  return {
    action: action as string,
    designRef: designRef as string,
    nodeFilter: (nodeFilter ?? null) as Record<string, unknown> | null,
  };
}
