/**
 * `GET /api/v1.0/tasks/{id}` with Drydock's options: `builddata` adds each
 * task's `build_data`; `layers=N` answers `{init_task_id, <id>: task, …}`
 * for N layers of the tree (the task itself is layer 1; -1: all);
 * `subtaskerrors` adds `subtask_errors`, the results of every descendant
 * with errors, keyed by id. Also `GET /tasks/{id}/builddata`.
 *
 * @module
 */
import { type BuildData, listBuildData } from "../build_data.ts";
import { getTask } from "../tasks.ts";
import type { RouteContext } from "./_context.ts";
import { boolParam, intParam, uuidParam } from "./_params.ts";
import { errorResponse, json } from "./_respond.ts";
import { buildDataDict, type StatusDict, statusDict, type TaskDict, taskDict } from "./_shapes.ts";
import { readBuildDataOf, readTaskTree, type TreeTask } from "./_tree.ts";

/** `GET /tasks/{id}`: one task, or its tree, as Drydock answers. */
export async function getTaskRoute(ctx: RouteContext): Promise<Response> {
  const id = uuidParam(ctx.params.id);
  const builddata = boolParam(ctx.url, "builddata");
  const subtaskErrors = boolParam(ctx.url, "subtaskerrors");
  const layers = intParam(ctx.url, "layers", { min: -1, max: 1_000_000, fallback: 0 });
  if (layers === 0 && !subtaskErrors) return await singleTask(ctx, id, builddata);
  // Subtask errors are gathered from the whole tree, whatever `layers` says (Drydock's walk).
  const tree = await readTaskTree(ctx.sql, id, subtaskErrors || layers === -1 ? -1 : layers - 1);
  if (tree.length === 0) return notFound(id);
  const shown = tree.filter((t) => layers === -1 || t.depth < Math.max(layers, 1));
  const data = builddata ? await readBuildDataOf(ctx.sql, shown.map((t) => t.task.id)) : new Map();
  const dicts = shown.map(({ task }) => withBuildData(taskDict(task), data.get(task.id)));
  const body: Record<string, unknown> = layers === 0
    ? { ...dicts[0] }
    : { init_task_id: id, ...Object.fromEntries(dicts.map((d) => [d.task_id, d])) };
  if (subtaskErrors) body.subtask_errors = subtaskErrorsOf(tree);
  return json(200, body);
}

async function singleTask(ctx: RouteContext, id: string, builddata: boolean): Promise<Response> {
  const task = await getTask(ctx.sql, id);
  if (!task) return notFound(id);
  const dict = taskDict(task);
  if (builddata) {
    dict.build_data = (await listBuildData(ctx.sql, { taskId: id })).map(buildDataDict);
  }
  return json(200, dict);
}

function withBuildData(dict: TaskDict, data: BuildData[] | undefined): TaskDict {
  if (data) dict.build_data = data.map(buildDataDict);
  return dict;
}

/** Drydock's `subtask_errors`: each descendant with errors → its result plus `task_id`. */
function subtaskErrorsOf(tree: TreeTask[]): Record<string, StatusDict & { task_id: string }> {
  const out: Record<string, StatusDict & { task_id: string }> = {};
  for (const { depth, task } of tree) {
    if (depth === 0 || task.result.errorCount === 0) continue;
    out[task.id] = { ...statusDict(task.result, task.messages), task_id: task.id };
  }
  return out;
}

function notFound(id: string): Response {
  return errorResponse(404, `Task ${id} does not exist`);
}

/** `GET /tasks/{id}/builddata`: the task's build data; 404 when it has none (Drydock's rule). */
export async function taskBuildDataRoute(ctx: RouteContext): Promise<Response> {
  const id = uuidParam(ctx.params.id);
  const records = await listBuildData(ctx.sql, { taskId: id });
  if (records.length === 0) return errorResponse(404, `No build data found for task ${id}`);
  return json(200, records.map(buildDataDict));
}

/** `GET /nodes/{name}/builddata?latest=true|false`: a node's build data; 404 when none. */
export async function nodeBuildDataRoute(ctx: RouteContext): Promise<Response> {
  const latest = boolParam(ctx.url, "latest");
  const records = await listBuildData(ctx.sql, { nodeName: ctx.params.name, latest });
  if (records.length === 0) return errorResponse(404, "No build data found");
  return json(200, records.map(buildDataDict));
}
