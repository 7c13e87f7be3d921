/**
 * Boot actions: per node, the context of its deployment (the task deploying
 * it and a 32-byte identity key the node must present to the boot-action
 * API), and the status of each boot action run on it. Like build data, these
 * rows outlive the tasks they name.
 *
 * @module
 */
import { z } from "zod";
import { type Db, query } from "./db.ts";
import { ConflictError, NotFoundError, ValidationError } from "./errors.ts";
import { ActionResult } from "./tasks/types.ts";
import { parse } from "./_validation.ts";
import { mapConstraintError } from "./_sqlstate.ts";
import { pgText, taskId as taskIdSchema } from "./_schemas.ts";

/** A node's boot-action context, as {@linkcode getBootActionContext} returns it. */
export interface BootActionContext {
  /** The node. */
  nodeName: string;
  /** The task deploying the node; boot-action reports attach to it. */
  taskId: string;
  /** The 32-byte key the node must present. */
  identityKey: Uint8Array;
}

/** The input of {@linkcode putBootActionContext}. */
export interface PutBootActionContextInput {
  /** The node: 1–64 characters. */
  nodeName: string;
  /** The task deploying the node: a UUID. */
  taskId: string;
  /** The key the node must present: exactly 32 bytes. */
  identityKey: Uint8Array;
}

/** One boot action run on a node, and its status. */
export interface BootAction {
  /** The action's id: a ULID, canonical (upper case). */
  actionId: string;
  /** The node it runs on. */
  nodeName: string;
  /** The boot action's name, from the site design. */
  actionName: string;
  /** The task that deployed the node. */
  taskId: string;
  /** The 32-byte key the node must present when reporting on this action. */
  identityKey: Uint8Array;
  /** Its status. */
  status: ActionResult;
}

/** The input of {@linkcode insertBootAction}. */
export interface InsertBootActionInput {
  /** The action's id: a ULID (26 Crockford base-32 characters, either case). */
  actionId: string;
  /** The node it runs on: 1–64 characters. */
  nodeName: string;
  /** The boot action's name: 1–128 characters. */
  actionName: string;
  /** The task that deployed the node: a UUID. */
  taskId: string;
  /** The key the node must present: exactly 32 bytes. */
  identityKey: Uint8Array;
  /**
   * Its initial status.
   * @default "incomplete"
   */
  status?: ActionResult;
}

const text = (max: number) => pgText(max).min(1);
const nodeNameSchema = text(64);
const anyKeySchema = z.instanceof(Uint8Array, { error: "must be a Uint8Array" });
const identityKeySchema = anyKeySchema
  .refine((k) => k.length === 32, { error: "must be exactly 32 bytes" });
// A ULID is case-insensitive; stored and returned in its canonical upper case.
const actionIdSchema = z.string()
  .regex(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i, { error: "must be a ULID" })
  .transform((s) => s.toUpperCase());
const STATUSES = Object.values(ActionResult);
const statusSchema = z.enum(STATUSES, { error: `must be one of ${STATUSES.join(", ")}` });

const contextSchema = z.object({
  nodeName: nodeNameSchema,
  taskId: taskIdSchema,
  identityKey: identityKeySchema,
}).strict();
const insertSchema = z.object({
  actionId: actionIdSchema,
  nodeName: nodeNameSchema,
  actionName: text(128),
  taskId: taskIdSchema,
  identityKey: identityKeySchema,
  status: statusSchema.default("incomplete"),
}).strict();

// Compared against when nothing is stored, so a missing row costs the same work.
// Per-call argument checks, built once.
const byNodeName = z.object({ nodeName: nodeNameSchema });
const byActionIdAndStatus = z.object({ actionId: actionIdSchema, status: statusSchema });
const byActionId = z.object({ actionId: actionIdSchema });
const byNodeNameAndKey = z.object({ nodeName: nodeNameSchema, presented: anyKeySchema });
const byActionIdAndKey = z.object({ actionId: actionIdSchema, presented: anyKeySchema });

const NO_KEY = new Uint8Array(32);

/** The columns {@linkcode toBootAction} maps. */
const ACTION_COLUMNS = "action_id, node_name, action_name, task_id, identity_key, action_status";

/**
 * Saves a node's boot-action context, replacing any earlier one (a
 * redeployment brings a new task and a new key).
 *
 * @param db A pool or transaction.
 * @param input The node, the task deploying it and its identity key.
 * @throws {ValidationError} A field is invalid (e.g. a key that is not 32 bytes); nothing was written.
 *
 * @example Usage
 * ```ts ignore
 * import { putBootActionContext } from "@drydock/statemgmt";
 * await putBootActionContext(sql, {
 *   nodeName: "compute01",
 *   taskId: "0b6c1b5e-5d1c-4c7e-9a43-7d1f0c5e2a10",
 *   identityKey: crypto.getRandomValues(new Uint8Array(32)),
 * });
 * ```
 */
export async function putBootActionContext(
  db: Db,
  input: PutBootActionContextInput,
): Promise<void> {
  const v = parse(contextSchema, input);
  await query(
    db,
    `INSERT INTO boot_actions (node_name, task_id, identity_key)
    VALUES ($1::text, $2::uuid, $3::bytea)
    ON CONFLICT (node_name) DO UPDATE
      SET task_id = excluded.task_id, identity_key = excluded.identity_key`,
    [v.nodeName, v.taskId, v.identityKey],
  );
}

/**
 * Reads a node's boot-action context.
 *
 * @param db A pool or transaction.
 * @param nodeName The node.
 * @returns The context, or `null` when the node has none.
 * @throws {ValidationError} `nodeName` is invalid; no SQL was run.
 *
 * @example Usage
 * ```ts ignore
 * import { getBootActionContext } from "@drydock/statemgmt";
 * const ctx = await getBootActionContext(sql, "compute01");
 * console.log(ctx?.taskId);
 * ```
 */
export async function getBootActionContext(
  db: Db,
  nodeName: string,
): Promise<BootActionContext | null> {
  const v = parse(byNodeName, { nodeName });
  const [row] = await query(
    db,
    "SELECT node_name, task_id, identity_key FROM boot_actions WHERE node_name = $1::text",
    [v.nodeName],
  );
  if (!row) return null;
  return {
    nodeName: row.node_name,
    taskId: row.task_id,
    identityKey: new Uint8Array(row.identity_key),
  };
}

/**
 * Records a boot action on a node; its status starts as `incomplete`
 * unless given.
 *
 * @param db A pool or transaction.
 * @param input The action's ULID, node, name, task, identity key and status.
 * @returns The stored boot action (its id in canonical upper case).
 * @throws {ValidationError} A field is invalid (a non-ULID id, a key that is not 32 bytes, an unknown status…); nothing was written.
 * @throws {ConflictError} A boot action with this id already exists.
 *
 * @example Usage
 * ```ts ignore
 * import { insertBootAction } from "@drydock/statemgmt";
 * const action = await insertBootAction(sql, {
 *   actionId: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
 *   nodeName: "compute01",
 *   actionName: "hello_world",
 *   taskId: "0b6c1b5e-5d1c-4c7e-9a43-7d1f0c5e2a10",
 *   identityKey: ctx.identityKey,
 * });
 * console.log(action.status); // "incomplete"
 * ```
 */
export async function insertBootAction(db: Db, input: InsertBootActionInput): Promise<BootAction> {
  const v = parse(insertSchema, input);
  const [row] = await query(
    db,
    `INSERT INTO boot_action_statuses
      (action_id, node_name, action_name, task_id, identity_key, action_status)
    VALUES ($1::text, $2::text, $3::text, $4::uuid, $5::bytea, $6::text)
    RETURNING ${ACTION_COLUMNS}`,
    [v.actionId, v.nodeName, v.actionName, v.taskId, v.identityKey, v.status],
  )
    .catch((err) => {
      // Only the primary key can be violated here.
      throw mapConstraintError(err, {
        unique: (_key, cause) =>
          new ConflictError(`boot action ${v.actionId} already exists`, { cause }),
      });
    });
  return toBootAction(row);
}

/**
 * Sets the status of a boot action, as the node reports it. Any status may
 * follow any other: the API layer decides which reports to accept.
 *
 * @param db A pool or transaction.
 * @param actionId The action's ULID (either case).
 * @param newStatus The new status.
 * @returns The updated boot action.
 * @throws {ValidationError} `actionId` is not a ULID or `newStatus` is unknown; no SQL was run.
 * @throws {NotFoundError} No boot action has this id.
 *
 * @example Usage
 * ```ts ignore
 * import { setBootActionStatus } from "@drydock/statemgmt";
 * const action = await setBootActionStatus(sql, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "success");
 * console.log(action.status); // "success"
 * ```
 */
export async function setBootActionStatus(
  db: Db,
  actionId: string,
  newStatus: ActionResult,
): Promise<BootAction> {
  const v = parse(byActionIdAndStatus, {
    actionId,
    status: newStatus,
  });
  const [row] = await query(
    db,
    `UPDATE boot_action_statuses SET action_status = $2::text
    WHERE action_id = $1::text
    RETURNING ${ACTION_COLUMNS}`,
    [v.actionId, v.status],
  );
  if (!row) throw new NotFoundError("boot action", v.actionId);
  return toBootAction(row);
}

/**
 * Reads one boot action.
 *
 * @param db A pool or transaction.
 * @param actionId The action's ULID (either case).
 * @returns The boot action, or `null` when none has this id.
 * @throws {ValidationError} `actionId` is not a ULID; no SQL was run.
 *
 * @example Usage
 * ```ts ignore
 * import { getBootAction } from "@drydock/statemgmt";
 * const action = await getBootAction(sql, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
 * console.log(action?.status);
 * ```
 */
export async function getBootAction(db: Db, actionId: string): Promise<BootAction | null> {
  const v = parse(byActionId, { actionId });
  const [row] = await query(
    db,
    `SELECT ${ACTION_COLUMNS} FROM boot_action_statuses WHERE action_id = $1::text`,
    [v.actionId],
  );
  return row ? toBootAction(row) : null;
}

/**
 * Lists a node's boot actions keyed by action name. When a name was run
 * more than once (the node was redeployed), the newest action (the
 * greatest ULID) is the one listed.
 *
 * @param db A pool or transaction.
 * @param nodeName The node.
 * @returns The node's boot actions by name; `{}` when it has none.
 * @throws {ValidationError} `nodeName` is invalid; no SQL was run.
 *
 * @example Usage
 * ```ts ignore
 * import { listBootActions } from "@drydock/statemgmt";
 * const actions = await listBootActions(sql, "compute01");
 * console.log(actions["hello_world"]?.status);
 * ```
 */
export async function listBootActions(
  db: Db,
  nodeName: string,
): Promise<Record<string, BootAction>> {
  const v = parse(byNodeName, { nodeName });
  const rows = await query(
    db,
    `SELECT DISTINCT ON (action_name) ${ACTION_COLUMNS}
    FROM boot_action_statuses WHERE node_name = $1::text
    ORDER BY action_name, action_id DESC`,
    [v.nodeName],
  );
  // fromEntries defines own properties, so a name like "__proto__" stays a key.
  return Object.fromEntries(rows.map((row) => [row.action_name, toBootAction(row)]));
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * Makes a new boot-action id: a ULID (48 bits of milliseconds, then 80
 * random bits, in Crockford base 32), so ids sort by creation time.
 *
 * @param ms The time part, in milliseconds since the epoch.
 * @returns A 26-character ULID.
 *
 * @example Usage
 * ```ts
 * import { newBootActionId } from "@drydock/statemgmt";
 * console.log(newBootActionId().length); // 26
 * ```
 */
export function newBootActionId(ms: number = Date.now()): string {
  let time = "";
  for (let i = 0, t = ms; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  // 256 is a multiple of 32, so each byte gives one uniform character.
  const random = crypto.getRandomValues(new Uint8Array(16));
  return time + Array.from(random, (b) => CROCKFORD[b % 32]).join("");
}

/**
 * Compares a presented identity key with the expected one in constant
 * time: the work depends only on the expected key's length, never on where
 * the keys differ, nor on the presented key's length (a shorter or longer
 * key is compared in full against zero padding, then refused). An empty
 * expected key never matches.
 *
 * @param expected The stored key.
 * @param presented The key the node presented.
 * @returns `true` only when both keys have the same length and bytes.
 * @throws {ValidationError} Either argument is not a `Uint8Array`.
 *
 * @example Usage
 * ```ts
 * import { identityKeysEqual } from "@drydock/statemgmt";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * console.log(identityKeysEqual(key, key.slice())); // true
 * console.log(identityKeysEqual(key, key.slice(0, 31))); // false
 * ```
 */
export function identityKeysEqual(expected: Uint8Array, presented: Uint8Array): boolean {
  const bad = [["expected", expected], ["presented", presented]]
    .filter(([, k]) => !(k instanceof Uint8Array))
    .map(([path]) => ({ path: path as string, message: "must be a Uint8Array" }));
  if (bad.length > 0) throw new ValidationError(bad);
  const n = expected.length;
  const padded = new Uint8Array(n);
  padded.set(presented.subarray(0, n));
  let diff = n ^ presented.length;
  for (let i = 0; i < n; i++) diff |= expected[i] ^ padded[i];
  return diff === 0 && n > 0;
}

/**
 * Checks the identity key a node presents against its boot-action context,
 * in constant time (see {@linkcode identityKeysEqual}). For the API that
 * serves a node its boot-action assets.
 *
 * @param db A pool or transaction.
 * @param nodeName The node the request claims to come from.
 * @param presented The key it presented (any length; a wrong length is a mismatch).
 * @returns `true` only when the node has a context and the keys are equal;
 *   `false` when they differ or the node has no context.
 * @throws {ValidationError} `nodeName` is invalid or `presented` is not a `Uint8Array`; no SQL was run.
 *
 * @example Usage
 * ```ts ignore
 * import { verifyIdentityKey } from "@drydock/statemgmt";
 * const hex = request.headers.get("X-Bootaction-Key") ?? "";
 * const key = new Uint8Array(hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
 * if (!(await verifyIdentityKey(sql, "compute01", key))) return new Response(null, { status: 403 });
 * ```
 */
export async function verifyIdentityKey(
  db: Db,
  nodeName: string,
  presented: Uint8Array,
): Promise<boolean> {
  const v = parse(byNodeNameAndKey, {
    nodeName,
    presented,
  });
  const [row] = await query(
    db,
    "SELECT identity_key FROM boot_actions WHERE node_name = $1::text",
    [v.nodeName],
  );
  return keyMatches(row?.identity_key, v.presented);
}

/**
 * Checks the identity key a node presents when reporting on a boot action
 * against the key stored with that action, in constant time (see
 * {@linkcode identityKeysEqual}). For the API that boot-action reports go
 * through, before it calls {@linkcode setBootActionStatus}.
 *
 * @param db A pool or transaction.
 * @param actionId The boot action reported on (a ULID, either case).
 * @param presented The key the node presented (any length; a wrong length is a mismatch).
 * @returns `true` only when the action exists and the keys are equal;
 *   `false` when they differ or there is no such action.
 * @throws {ValidationError} `actionId` is not a ULID or `presented` is not a `Uint8Array`; no SQL was run.
 *
 * @example Usage
 * ```ts ignore
 * import { setBootActionStatus, verifyBootActionKey } from "@drydock/statemgmt";
 * if (!(await verifyBootActionKey(sql, actionId, key))) return new Response(null, { status: 403 });
 * await setBootActionStatus(sql, actionId, "success");
 * ```
 */
export async function verifyBootActionKey(
  db: Db,
  actionId: string,
  presented: Uint8Array,
): Promise<boolean> {
  const v = parse(byActionIdAndKey, {
    actionId,
    presented,
  });
  const [row] = await query(
    db,
    "SELECT identity_key FROM boot_action_statuses WHERE action_id = $1::text",
    [v.actionId],
  );
  return keyMatches(row?.identity_key, v.presented);
}

function keyMatches(stored: Uint8Array | undefined, presented: Uint8Array): boolean {
  const equal = identityKeysEqual(stored ? new Uint8Array(stored) : NO_KEY, presented);
  return equal && stored !== undefined;
}

interface BootActionRow {
  action_id: string;
  node_name: string;
  action_name: string;
  task_id: string;
  identity_key: Uint8Array;
  action_status: ActionResult;
}

function toBootAction(row: BootActionRow): BootAction {
  return {
    actionId: row.action_id,
    nodeName: row.node_name,
    actionName: row.action_name,
    taskId: row.task_id,
    // postgres.js returns a Node Buffer; callers get a plain Uint8Array.
    identityKey: new Uint8Array(row.identity_key),
    status: row.action_status,
  };
}
