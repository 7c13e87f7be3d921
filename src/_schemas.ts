/**
 * zod schemas shared by several repository files; zod stays internal.
 *
 * Every text, JSON and date input goes through {@linkcode pgText},
 * {@linkcode pgJson} or {@linkcode pgDate}: PostgreSQL cannot store NUL in
 * `text` or `jsonb`, turns a lone surrogate into U+FFFD in `text` (and
 * rejects it in `jsonb`), and parses fewer dates than `Date` holds. Each is
 * a `ValidationError` naming the field here, before any SQL runs, instead
 * of a raw database error (or a silently different value) later.
 */
import { z } from "zod";

/** Why PostgreSQL cannot store `s` as text, or `null` when it can. */
export function unstorableText(s: string): string | null {
  if (s.includes("\0")) return "must not contain NUL (\\0): PostgreSQL cannot store it";
  if (!s.isWellFormed()) {
    return "must not contain a lone surrogate (an unpaired UTF-16 code unit U+D800–U+DFFF)";
  }
  return null;
}

/** The zod check behind {@linkcode pgText}: one issue at the field's own path. */
const storableText = (ctx: z.core.ParsePayload<string>) => {
  const why = unstorableText(ctx.value);
  if (why) ctx.issues.push({ code: "custom", message: why, input: ctx.value });
};

/**
 * Text PostgreSQL stores as given: at most `max` UTF-16 code units (what
 * `z.string().max()` counts; never fewer than PostgreSQL's characters, so
 * the tables' `length()` CHECKs always hold), no NUL, no lone surrogate.
 * Without `max`, no length cap. Chain `.min(1)` where empty text is refused.
 */
export function pgText(max?: number): z.ZodString {
  const text = max === undefined ? z.string() : z.string().max(max);
  return text.check(storableText);
}

/** How deeply arrays and objects may nest in a {@linkcode pgJson} value. */
export const MAX_JSON_DEPTH = 64;

/**
 * The checks {@linkcode pgJson} adds to `z.json()`, iteratively (no
 * recursion, so a 2,000-deep value is an issue, not a `RangeError`): every
 * string value and object key storable ({@linkcode unstorableText}), and
 * at most {@linkcode MAX_JSON_DEPTH} levels of nesting. Issues name the
 * path inside the value.
 */
const storableJson = (ctx: z.core.ParsePayload<unknown>) => {
  const stack: [unknown, PropertyKey[]][] = [[ctx.value, []]];
  const issue = (message: string, path: PropertyKey[]) =>
    ctx.issues.push({ code: "custom", message, input: ctx.value, path });
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === "string") {
      const why = unstorableText(value);
      if (why) issue(why, path);
    } else if (typeof value === "object" && value !== null) {
      if (path.length >= MAX_JSON_DEPTH) {
        // Named at the field itself: a path 64 keys long would bury the point.
        issue(`must not nest arrays and objects more than ${MAX_JSON_DEPTH} levels deep`, []);
        return;
      }
      const array = Array.isArray(value);
      for (const [key, item] of Object.entries(value)) {
        const why = array ? null : unstorableText(key);
        // The key is quoted escaped (JSON.stringify), never raw, in the message.
        if (why) issue(`key ${JSON.stringify(key.slice(0, 40))} ${why}`, path);
        stack.push([item, [...path, array ? Number(key) : key]]);
      }
    }
    if (ctx.issues.length >= 10) return; // enough to act on; a huge bad value stops early
  }
};

/**
 * A JSON value PostgreSQL's `jsonb` stores as given: `z.json()`, with its
 * strings and keys checked like {@linkcode pgText} and its nesting capped
 * at {@linkcode MAX_JSON_DEPTH}. The checks run first, so `z.json()` (which
 * recurses) only ever sees shallow values.
 */
export const pgJson = z.unknown().check(storableJson).pipe(z.json());

/** The earliest and latest instants {@linkcode pgDate} accepts. */
export const PG_DATE_RANGE = {
  min: new Date("0100-01-01T00:00:00.000Z"),
  max: new Date("9999-12-31T23:59:59.999Z"),
} as const;

/**
 * A valid `Date` that travels to PostgreSQL and back unchanged: from
 * 0100-01-01 to 9999-12-31 (UTC). PostgreSQL's own `timestamptz` range is
 * wider (4714-11-24 BC to 294276 AD; `Date` ends at 275760-09-13, which
 * PostgreSQL accepts when written `275760-09-13`), but the driver limits it
 * both ways: postgres.js sends a `Date` as `toISOString()`, which writes
 * years past 9999 as `+275760-…` and years before 1 as `-000001-…`, and
 * PostgreSQL refuses those (22009 "time zone displacement out of range",
 * 22007, 22008); it reads a timestamp back with `new Date(text)`, which
 * takes the years 1–99 for 1901–2049 (0001-01-01 came back as 2001-01-01,
 * measured) and cannot read a `BC` date at all.
 */
export const pgDate = z.date({ error: "must be a Date" }).refine(
  (d) => d >= PG_DATE_RANGE.min && d <= PG_DATE_RANGE.max,
  { error: "must be a valid date from 0100-01-01 to 9999-12-31 (UTC)" },
);

/** A UUID (any version), normalised to lower case. */
export const uuid = z.guid({ error: "must be a UUID" }).transform((s) => s.toLowerCase());

/** A task id. */
export const taskId = uuid;

/** A lowercase identifier, as Drydock's actions are. */
export const action = z.string().max(64).regex(/^[a-z][a-z0-9_]*$/, {
  error: "must be a lowercase identifier (a-z, 0-9, _; starting with a letter)",
});

/** A short free-text name: who created or terminated something. */
export const actor = pgText(256).min(1);

/** The name of a leader election. */
export const electionName = pgText(128).min(1);

/** A leader's lease, as the leadership functions return it. */
export const leaseSchema = z.object({
  election: electionName,
  holder: actor,
  term: z.number().int().positive(),
  expiresAt: z.date(),
});

/** The longest interval a timer can measure: 2³¹ − 1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A whole, positive number of milliseconds that a timer can measure. */
export const timerMs = z.number().int().positive().max(MAX_TIMER_MS);
