/**
 * Build data: the build history of each node. Every record is one piece of
 * data a generator collected from a node during a deployment task (e.g. the
 * `lshw` output, a boot log). History outlives tasks: deleting a task never
 * deletes the build data it produced, so after a node is destroyed and
 * redeployed its history still shows the transition.
 *
 * @module
 */
import { z } from "zod";
import { type Db, Params, query, toDate } from "./db.ts";
import { parse } from "./_validation.ts";
import { pgDate, pgText, taskId } from "./_schemas.ts";

/** One record of a node's build history. */
export interface BuildData {
  /** The record's id, in insertion order. */
  id: number;
  /** The node the data was collected from. */
  nodeName: string;
  /** The task that collected it (the task itself may have been deleted since). */
  taskId: string;
  /** When it was collected. */
  collectedDate: Date;
  /** What collected it, e.g. `"lshw"`. */
  generator: string;
  /** The format of `dataElement`, e.g. `"text/plain"` or `"application/json"`. */
  dataFormat: string;
  /** The data itself; absent when listed with `includeData: false`. */
  dataElement?: string;
}

/** The input of {@linkcode insertBuildData}. */
export interface InsertBuildDataInput {
  /** The node the data was collected from: 1–64 characters. */
  nodeName: string;
  /** The task that collected it: a UUID. */
  taskId: string;
  /** What collected it: 1–128 characters. */
  generator: string;
  /** The format of `dataElement`: 1–128 characters. */
  dataFormat: string;
  /** The data itself; may be empty, has no length cap. */
  dataElement: string;
  /**
   * When it was collected.
   * @default the database's clock (`clock_timestamp()`) at insertion
   */
  collectedDate?: Date;
}

/** The filters and options of {@linkcode listBuildData}; filters combine with AND. */
export interface ListBuildDataOptions {
  /**
   * Only this node's records.
   * @default every node
   */
  nodeName?: string;
  /**
   * Only records collected by this task.
   * @default every task
   */
  taskId?: string;
  /**
   * Only the newest record per generator of each node (after the other
   * filters), ordered by node name, then generator.
   * @default false
   */
  latest?: boolean;
  /**
   * Whether to read `dataElement`. When `false` the column is left out of
   * the query itself, so large elements are never read or sent.
   * @default true
   */
  includeData?: boolean;
}

const text = (max: number) => pgText(max).min(1);

const nodeName = text(64);

const insertSchema = z.object({
  nodeName,
  taskId,
  generator: text(128),
  dataFormat: text(128),
  // No length cap: build data can be large (the column is unbounded text).
  dataElement: pgText(),
  collectedDate: pgDate.optional(),
}).strict();

const listSchema = z.object({
  nodeName: nodeName.optional(),
  taskId: taskId.optional(),
  latest: z.boolean().default(false),
  includeData: z.boolean().default(true),
}).strict();

const INSERT = `
    INSERT INTO build_data
      (node_name, task_id, collected_date, generator, data_format, data_element)
    VALUES ($1::text, $2::uuid, coalesce($3::timestamptz, clock_timestamp()),
            $4::text, $5::text, $6::text)
    RETURNING id, node_name, task_id, collected_date, generator, data_format`;

/**
 * Records one piece of build data collected from a node.
 *
 * @param db A pool or transaction.
 * @param input The node, task, generator, format and data; the collection
 *   date defaults to the database's clock.
 * @returns The stored record, with its id and collection date.
 * @throws {ValidationError} A field is missing or invalid; nothing was written.
 *
 * @example Usage
 * ```ts ignore
 * import { insertBuildData } from "@drydock/statemgmt";
 * const record = await insertBuildData(sql, {
 *   nodeName: "compute01",
 *   taskId: "0b6c1b5e-5d1c-4c7e-9a43-7d1f0c5e2a10",
 *   generator: "lshw",
 *   dataFormat: "application/json",
 *   dataElement: '{"id":"compute01"}',
 * });
 * console.log(record.id, record.collectedDate);
 * ```
 */
export async function insertBuildData(db: Db, input: InsertBuildDataInput): Promise<BuildData> {
  const v = parse(insertSchema, input);
  const [row] = await query(db, INSERT, [
    v.nodeName,
    v.taskId,
    v.collectedDate ?? null,
    v.generator,
    v.dataFormat,
    v.dataElement,
  ]);
  // The element is not sent back: the caller already has it, and it may be large.
  return { ...toBuildData(row), dataElement: v.dataElement };
}

/**
 * Lists build data, filtered by node and/or task (both apply when both are
 * given). Without `latest` the records come newest first (collection date,
 * then id, descending), as an operator reads a history. With `latest` only
 * the newest record per generator of each node remains, ordered by node
 * name, then generator. With no filter at all, every record is listed.
 *
 * @param db A pool or transaction.
 * @param opts Filters, `latest` and `includeData`.
 * @returns The matching records; `dataElement` is absent when `includeData` is `false`.
 * @throws {ValidationError} A filter is invalid; no SQL was run.
 *
 * @example Usage
 * ```ts ignore
 * import { listBuildData } from "@drydock/statemgmt";
 * const latest = await listBuildData(sql, { nodeName: "compute01", latest: true });
 * for (const r of latest) console.log(r.generator, r.collectedDate, r.dataElement);
 * ```
 */
export async function listBuildData(
  db: Db,
  opts: ListBuildDataOptions = {},
): Promise<BuildData[]> {
  const v = parse(listSchema, opts);
  const q = new Params();
  const rows = await query(
    db,
    `SELECT ${v.latest ? "DISTINCT ON (node_name, generator)" : ""}
           id, node_name, task_id, collected_date, generator, data_format
           ${v.includeData ? ", data_element" : ""}
    FROM build_data
    WHERE true
      ${v.nodeName !== undefined ? `AND node_name = ${q.add(v.nodeName)}::text` : ""}
      ${v.taskId !== undefined ? `AND task_id = ${q.add(v.taskId)}::uuid` : ""}
    ORDER BY ${v.latest ? "node_name, generator," : ""} collected_date DESC, id DESC`,
    q.values,
  );
  return rows.map(toBuildData);
}

interface BuildDataRow {
  id: string;
  node_name: string;
  task_id: string;
  collected_date: Date;
  generator: string;
  data_format: string;
  data_element?: string;
}

function toBuildData(row: BuildDataRow): BuildData {
  const record: BuildData = {
    id: Number(row.id),
    nodeName: row.node_name,
    taskId: row.task_id,
    collectedDate: toDate(row.collected_date),
    generator: row.generator,
    dataFormat: row.data_format,
  };
  if (row.data_element !== undefined) record.dataElement = row.data_element;
  return record;
}
