/**
 * The durable task-event log: every new task, change of status,
 * termination request and result roll-up is a row of `task_events`,
 * written in the same transaction as the change. Readers find new events
 * by snapshot, as PgQ does — the events of transactions visible in the
 * current snapshot and not in the previous one — so an event committed
 * late, after a later one, is still read once, and a reader that
 * reconnects resumes from its cursor. NOTIFY only wakes readers up.
 *
 * - {@linkcode readTaskEvents}: the pull form, one statement, usable behind PgBouncer.
 * - {@linkcode watchTasks}: a callback, read on a wake-up and on a poll.
 * - {@linkcode pruneTaskEvents}: retention by age; older cursors expire.
 * - {@linkcode deleteTaskEvents}: the events of tasks being deleted.
 *
 * @module
 */
export {
  deleteTaskEvents,
  pruneTaskEvents,
  readTaskEvents,
  type ReadTaskEventsOptions,
  type TaskEvent,
  type TaskEventKind,
  type TaskEventPage,
  taskEventsChannel,
} from "./events/read.ts";
export { type TaskWatch, watchTasks, type WatchTasksOptions } from "./events/watch.ts";
