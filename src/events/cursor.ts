/**
 * The task-event cursor: what a reader has seen, as opaque text a consumer
 * may store anywhere. Between windows it is `v1.` + base64url of the JSON
 * array `[p, s]`; inside one, of `[p, s, c, h, lo]`, then `.` and `i` (so the
 * events of one page share the encoded part and each costs a string
 * concatenation).
 *
 * `p` is the snapshot of the last read (pg_snapshot text `xmin:xmax:xip,…`):
 * every event of a transaction visible in `p` has been delivered. `s` is the
 * largest event id visible in `p`. While a window (`p`, `c`) is read in
 * pages the cursor also holds its upper snapshot `c`, the largest id
 * visible in `c` (`h`), the id below which none of the window's events lies
 * (`lo`) and the last id delivered (`i`).
 *
 * @module
 */
import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { parse } from "../_validation.ts";

/** A cursor between windows: everything visible in `p` has been delivered. */
export interface ClosedCursor {
  /** The snapshot of the last read, pg_snapshot text. */
  p: string;
  /** The largest event id visible in `p`. */
  s: string;
}

/** A cursor inside the window (`p`, `c`), after event id `i`. */
export interface WindowCursor extends ClosedCursor {
  /** The window's upper snapshot. */
  c: string;
  /** The largest event id visible in `c`. */
  h: string;
  /** No event of the window has an id at or below this. */
  lo: string;
  /** The id of the last event delivered in this window. */
  i: string;
}

/** A decoded cursor. */
export type Cursor = ClosedCursor | WindowCursor;

/** Whether `cursor` is inside a window. */
export function inWindow(cursor: Cursor): cursor is WindowCursor {
  return "c" in cursor;
}

const PREFIX = "v1.";
const XID8_MAX = (1n << 64n) - 1n;
const BIGINT_MAX = (1n << 63n) - 1n;

/** A bigint column's value as decimal text, within PostgreSQL's bigint. */
const id = z.string().regex(/^\d{1,19}$/).refine((v) => BigInt(v) <= BIGINT_MAX, {
  error: "out of range",
});

/**
 * pg_snapshot text, checked as PostgreSQL's own parser does (0 < xmin ≤
 * xmax, the in-progress list ascending within [xmin, xmax)) so a damaged
 * cursor is a ValidationError here rather than an error from the server.
 */
const snapshot = z.string().max(2_000_000).refine(validSnapshot, {
  error: "must be a pg_snapshot (xmin:xmax:xip,…)",
});

function validSnapshot(text: string): boolean {
  const m = /^(\d{1,20}):(\d{1,20}):((?:\d{1,20})(?:,\d{1,20})*)?$/.exec(text);
  if (!m) return false;
  const xmin = BigInt(m[1]);
  const xmax = BigInt(m[2]);
  if (xmin < 1n || xmax < xmin || xmax > XID8_MAX) return false;
  let last = xmin;
  for (const part of m[3] ? m[3].split(",") : []) {
    const xid = BigInt(part);
    if (xid < last || xid >= xmax) return false;
    last = xid;
  }
  return true;
}

const closed = z.tuple([snapshot, id]);
const windowed = z.tuple([snapshot, id, snapshot, id, id]).refine(
  ([p, , c]) => BigInt(c.split(":")[1]) >= BigInt(p.split(":")[1]),
  { error: "window ends before it starts" },
);

function base64url(parts: string[]): string {
  const bytes = new TextEncoder().encode(JSON.stringify(parts));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Encodes a cursor as opaque text.
 *
 * @param cursor The cursor.
 * @returns The text.
 */
export function encodeCursor(cursor: Cursor): string {
  return inWindow(cursor) ? windowPrefix(cursor) + cursor.i : closedCursorText(cursor);
}

/** The text of a cursor between windows. */
export function closedCursorText(cursor: ClosedCursor): string {
  return PREFIX + base64url([cursor.p, cursor.s]);
}

/** The text shared by every cursor of one window: append an event id to it. */
export function windowPrefix(w: Omit<WindowCursor, "i">): string {
  return PREFIX + base64url([w.p, w.s, w.c, w.h, w.lo]) + ".";
}

/**
 * Decodes and checks a cursor made by {@linkcode encodeCursor}.
 *
 * @param text The cursor text.
 * @param path The option's name, for the error.
 * @returns The cursor.
 * @throws {ValidationError} `text` is not a cursor.
 */
export function decodeCursor(text: unknown, path = "after"): Cursor {
  const bad = (cause?: unknown) =>
    new ValidationError([{ path, message: "not a task-event cursor" }], { cause });
  if (typeof text !== "string" || !text.startsWith(PREFIX) || text.length > 4_000_000) {
    throw bad();
  }
  const [body, last, ...rest] = text.slice(PREFIX.length).split(".");
  let parts: unknown;
  try {
    const binary = atob(body.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
    parts = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw bad(err);
  }
  try {
    if (rest.length > 0) throw bad();
    if (last === undefined) {
      const [p, s] = parse(closed, parts);
      return { p, s };
    }
    const [p, s, c, h, lo] = parse(windowed, parts);
    return { p, s, c, h, lo, i: parse(id, last) };
  } catch (err) {
    throw err instanceof ValidationError && err.issues[0]?.path === path ? err : bad(err);
  }
}
