/** zod schemas shared by several repository files; zod stays internal. */
import { z } from "zod";

/** A UUID (any version), normalised to lower case. */
export const uuid = z.guid({ error: "must be a UUID" }).transform((s) => s.toLowerCase());

/** A task id. */
export const taskId = uuid;

/** A lowercase identifier, as Drydock's actions are. */
export const action = z.string().max(64).regex(/^[a-z][a-z0-9_]*$/, {
  error: "must be a lowercase identifier (a-z, 0-9, _; starting with a letter)",
});

/** A short free-text name: who created or terminated something. */
export const actor = z.string().min(1).max(256);

/** The name of a leader election. */
export const electionName = z.string().min(1).max(128);

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
