/**
 * The build-data and boot-action part of the demo: what a deployment leaves
 * behind for each node, and the summary an operator reads afterwards.
 */
import type { Db } from "../src/db.ts";
import { insertBuildData, listBuildData } from "../src/build_data.ts";
import {
  insertBootAction,
  newBootActionId,
  putBootActionContext,
  setBootActionStatus,
} from "../src/boot_actions.ts";

/**
 * Records what deploying `nodeName` under task `taskId` leaves behind: build
 * data from two generators (`lshw`, `boot_log`), a fresh boot-action
 * context with a random identity key, and two boot actions, one of which
 * the node has already reported as done. Calling it again for the same node
 * (a redeployment) adds history and replaces the context.
 */
export async function recordNodeBuild(db: Db, nodeName: string, taskId: string): Promise<void> {
  await insertBuildData(db, {
    nodeName,
    taskId,
    generator: "lshw",
    dataFormat: "application/json",
    dataElement: JSON.stringify({
      id: nodeName,
      class: "system",
      product: "Demo R640",
      memoryGiB: 384,
    }),
  });
  await insertBuildData(db, {
    nodeName,
    taskId,
    generator: "boot_log",
    dataFormat: "text/plain",
    dataElement: `${nodeName} login: cloud-init finished, deployed by task ${taskId}`,
  });
  const identityKey = crypto.getRandomValues(new Uint8Array(32));
  await putBootActionContext(db, { nodeName, taskId, identityKey });
  const hello = await insertBootAction(db, {
    actionId: newBootActionId(),
    nodeName,
    actionName: "hello_world",
    taskId,
    identityKey,
  });
  await insertBootAction(db, {
    actionId: newBootActionId(),
    nodeName,
    actionName: "ntp_config",
    taskId,
    identityKey,
  });
  await setBootActionStatus(db, hello.actionId, "success");
}

/**
 * Summarises the latest build data per generator of each of `nodeNames`,
 * one printable line per node and generator, in the order given; a node
 * without build data gets a line saying so. One query, without the data
 * elements themselves.
 */
export async function latestBuildSummary(db: Db, nodeNames: string[]): Promise<string[]> {
  const latest = await listBuildData(db, { latest: true, includeData: false });
  const width = Math.max(0, ...nodeNames.map((n) => n.length));
  return nodeNames.flatMap((node) => {
    const records = latest.filter((r) => r.nodeName === node);
    if (records.length === 0) return [`${node.padEnd(width)}  (no build data)`];
    return records.map((r) =>
      [
        node.padEnd(width),
        r.generator.padEnd(10),
        r.dataFormat.padEnd(17),
        r.collectedDate.toISOString(),
        `task ${r.taskId.slice(0, 8)}`,
      ].join("  ")
    );
  });
}
