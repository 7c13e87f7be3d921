import type { Sql } from "../src/db.ts";
import { type BuildData, insertBuildData, listBuildData } from "../src/build_data.ts";
import { ValidationError } from "../src/errors.ts";
import { createTask, deleteTasksOlderThan } from "../src/tasks.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { countRows, dbTest } from "./_helpers.ts";

const TASK = "11111111-1111-4111-8111-111111111111";
const OTHER_TASK = "22222222-2222-4222-8222-222222222222";

/** Drydock's own fixture: `hello_world` collected `Hello World!` from `foo`. */
function helloWorld(over: Partial<Parameters<typeof insertBuildData>[1]> = {}) {
  return {
    nodeName: "foo",
    generator: "hello_world",
    dataFormat: "text/plain",
    dataElement: "Hello World!",
    taskId: TASK,
    ...over,
  };
}

async function dbNow(sql: Sql): Promise<Date> {
  const [{ now }] = await sql<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
  return now;
}

const DAY = 24 * 3600 * 1000;

// --- Drydock's build-data tests, ported ---

dbTest("insertBuildData without a collected date stamps the database's clock", async (sql) => {
  const before = await dbNow(sql);
  const record = await insertBuildData(sql, helloWorld());
  const after = await dbNow(sql);
  assert(record.collectedDate >= before && record.collectedDate <= after);
  assertEquals(await countRows(sql, ["build_data"]), { build_data: 1 });
});

dbTest("insertBuildData keeps a given collected date", async (sql) => {
  const collectedDate = new Date("2017-10-31T12:34:56.789Z");
  const record = await insertBuildData(sql, helloWorld({ collectedDate }));
  assertEquals(record.collectedDate, collectedDate);
  const [row] = await sql`SELECT collected_date FROM build_data`;
  assertEquals(row.collected_date, collectedDate);
});

dbTest("listBuildData round-trips a record field by field", async (sql) => {
  const collectedDate = new Date("2017-10-31T12:34:56.789Z");
  const inserted = await insertBuildData(sql, helloWorld({ collectedDate }));
  const expected: BuildData = {
    id: inserted.id,
    nodeName: "foo",
    taskId: TASK,
    collectedDate,
    generator: "hello_world",
    dataFormat: "text/plain",
    dataElement: "Hello World!",
  };
  assertEquals(inserted, expected);
  assertEquals(typeof inserted.id, "number");
  assertEquals(await listBuildData(sql), [expected]);
});

dbTest("listBuildData latest gives only the newest record of a generator", async (sql) => {
  const now = new Date("2017-10-31T12:00:00.000Z");
  // The newest is inserted first, so id order and date order disagree.
  const newest = await insertBuildData(sql, helloWorld({ collectedDate: now }));
  await insertBuildData(
    sql,
    helloWorld({ collectedDate: new Date(now.getTime() - DAY), taskId: OTHER_TASK }),
  );
  assertEquals(await listBuildData(sql, { nodeName: "foo", latest: true }), [newest]);
});

// --- the original's bugs, gone ---

dbTest("listBuildData filters by node AND task when both are given", async (sql) => {
  const wanted = await insertBuildData(sql, helloWorld());
  await insertBuildData(sql, helloWorld({ taskId: OTHER_TASK })); // same node, other task
  await insertBuildData(sql, helloWorld({ nodeName: "bar" })); // same task, other node
  assertEquals(await listBuildData(sql, { nodeName: "foo", taskId: TASK }), [wanted]);
});

dbTest(
  "listBuildData latest without a node gives the newest per node and generator",
  async (sql) => {
    const t0 = Date.parse("2017-10-31T12:00:00.000Z");
    const newest: BuildData[] = [];
    for (const nodeName of ["bar", "foo"]) {
      for (const generator of ["lshw", "syslog"]) {
        newest.push(
          await insertBuildData(
            sql,
            helloWorld({ nodeName, generator, collectedDate: new Date(t0) }),
          ),
        );
        await insertBuildData(
          sql,
          helloWorld({ nodeName, generator, collectedDate: new Date(t0 - DAY) }),
        );
      }
    }
    // Ordered by node, then generator.
    assertEquals(await listBuildData(sql, { latest: true }), newest);
  },
);

dbTest("listBuildData latest applies after the task filter", async (sql) => {
  const t0 = Date.parse("2017-10-31T12:00:00.000Z");
  const ofTask = await insertBuildData(sql, helloWorld({ collectedDate: new Date(t0 - DAY) }));
  await insertBuildData(sql, helloWorld({ taskId: OTHER_TASK, collectedDate: new Date(t0) }));
  assertEquals(await listBuildData(sql, { taskId: TASK, latest: true }), [ofTask]);
});

// --- what an operator reading a history expects ---

dbTest("listBuildData lists a node's history newest first", async (sql) => {
  const t0 = Date.parse("2017-10-31T12:00:00.000Z");
  const middle = await insertBuildData(sql, helloWorld({ collectedDate: new Date(t0 - DAY) }));
  const newest = await insertBuildData(
    sql,
    helloWorld({ generator: "lshw", collectedDate: new Date(t0) }),
  );
  const oldest = await insertBuildData(sql, helloWorld({ collectedDate: new Date(t0 - 2 * DAY) }));
  await insertBuildData(sql, helloWorld({ nodeName: "bar" }));
  assertEquals(await listBuildData(sql, { nodeName: "foo" }), [newest, middle, oldest]);
});

dbTest("listBuildData breaks ties of collected date by insertion order", async (sql) => {
  const collectedDate = new Date("2017-10-31T12:00:00.000Z");
  const first = await insertBuildData(sql, helloWorld({ collectedDate, dataElement: "first" }));
  const second = await insertBuildData(sql, helloWorld({ collectedDate, dataElement: "second" }));
  assertEquals(await listBuildData(sql, { nodeName: "foo" }), [second, first]);
  assertEquals(await listBuildData(sql, { nodeName: "foo", latest: true }), [second]);
});

dbTest("listBuildData by task lists what that task collected, on every node", async (sql) => {
  const a = await insertBuildData(sql, helloWorld({ nodeName: "foo" }));
  const b = await insertBuildData(sql, helloWorld({ nodeName: "bar" }));
  await insertBuildData(sql, helloWorld({ taskId: OTHER_TASK }));
  const listed = await listBuildData(sql, { taskId: TASK.toUpperCase() });
  assertEquals(listed.map((r) => r.id).sort(), [a.id, b.id].sort());
});

dbTest(
  "listBuildData includeData: false leaves data_element out of the query",
  async (sql, ctx) => {
    const { dataElement: _, ...summary } = await insertBuildData(sql, helloWorld());
    ctx.statements.length = 0;
    const listed = await listBuildData(sql, { nodeName: "foo", latest: true, includeData: false });
    assertEquals(listed, [summary]);
    assert(!("dataElement" in listed[0]));
    assertEquals(ctx.statements.length, 1);
    assert(ctx.statements[0].includes("FROM build_data"));
    assert(!ctx.statements[0].includes("data_element"), ctx.statements[0]);
  },
);

dbTest("listBuildData lists nothing for a node without history", async (sql) => {
  await insertBuildData(sql, helloWorld());
  assertEquals(await listBuildData(sql, { nodeName: "bar" }), []);
  assertEquals(await listBuildData(sql, { nodeName: "bar", latest: true }), []);
});

dbTest("build data survives deleteTasksOlderThan of the task that produced it", async (sql) => {
  const task = await createTask(sql, { action: "deploy_nodes", status: "complete" });
  const record = await insertBuildData(sql, helloWorld({ taskId: task.id }));
  const deleted = await deleteTasksOlderThan(sql, new Date(Date.now() + DAY));
  assertEquals(deleted, 1);
  assertEquals(await countRows(sql, ["tasks", "build_data"]), { tasks: 0, build_data: 1 });
  assertEquals(await listBuildData(sql, { taskId: task.id }), [record]);
});

// --- bad input ---

dbTest(
  "insertBuildData rejects bad input with ValidationError and writes nothing",
  async (sql, ctx) => {
    const bad: [string, Record<string, unknown>][] = [
      ["nodeName", helloWorld({ nodeName: "n".repeat(65) })],
      ["nodeName", helloWorld({ nodeName: "" })],
      ["nodeName", helloWorld({ nodeName: "foo\0" })],
      ["taskId", helloWorld({ taskId: "not-a-uuid" })],
      ["generator", helloWorld({ generator: "g".repeat(129) })],
      ["dataFormat", helloWorld({ dataFormat: "" })],
      ["dataElement", helloWorld({ dataElement: "a\0b" })],
      ["collectedDate", helloWorld({ collectedDate: new Date(NaN) })],
      ["collectedDate", { ...helloWorld(), collectedDate: "2017-10-31" }],
      ["", { ...helloWorld(), collected_date: new Date() }],
    ];
    for (const [path, input] of bad) {
      // deno-lint-ignore no-explicit-any
      const err = await assertRejects(() => insertBuildData(sql, input as any), ValidationError);
      assertEquals(err.issues.map((i) => i.path), [path], JSON.stringify(err.issues));
    }
    assertEquals(ctx.statements, [], "no SQL was sent");
    assertEquals(await countRows(sql, ["build_data"]), { build_data: 0 });
  },
);

dbTest("insertBuildData names every bad field at once", async (sql) => {
  const err = await assertRejects(
    () => insertBuildData(sql, helloWorld({ nodeName: "n".repeat(65), taskId: "x" })),
    ValidationError,
  );
  assertEquals(err.issues.map((i) => i.path).sort(), ["nodeName", "taskId"]);
});

dbTest("insertBuildData accepts a 64-character node name and an empty element", async (sql) => {
  const record = await insertBuildData(
    sql,
    helloWorld({ nodeName: "n".repeat(64), dataElement: "" }),
  );
  assertEquals(record.nodeName.length, 64);
  assertEquals(await listBuildData(sql, { nodeName: "n".repeat(64) }), [record]);
});

dbTest("listBuildData rejects bad filters and unknown options before any SQL", async (sql, ctx) => {
  const bad: Record<string, unknown>[] = [
    { nodeName: "n".repeat(65) },
    { taskId: "nope" },
    { latest: "yes" },
    { node: "foo" }, // a typo must not silently list every node
  ];
  for (const opts of bad) {
    // deno-lint-ignore no-explicit-any
    await assertRejects(() => listBuildData(sql, opts as any), ValidationError);
  }
  assertEquals(ctx.statements, []);
});

// --- scale ---

// deno-lint-ignore no-explicit-any
function planNodes(plan: any): any[] {
  return [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
}

dbTest(
  "listBuildData latest by node is index-backed over 100,000 rows on 1,000 nodes",
  async (sql, ctx) => {
    await sql`
    INSERT INTO build_data (node_name, task_id, collected_date, generator, data_format, data_element)
    SELECT 'node' || lpad((g % 1000)::text, 4, '0'),
           gen_random_uuid(),
           timestamptz '2020-01-01' + g * interval '1 second',
           'gen' || (g / 1000) % 5,
           'text/plain',
           repeat('x', 200)
    FROM generate_series(0, 99999) AS g`;
    await sql`ANALYZE build_data`;

    ctx.statements.length = 0;
    const latest = await listBuildData(sql, { nodeName: "node0042", latest: true });
    // 5 generators; the newest of each comes from the last 5,000 rows.
    assertEquals(latest.map((r) => r.generator), ["gen0", "gen1", "gen2", "gen3", "gen4"]);
    const newestGen4 = Date.parse("2020-01-01T00:00:00Z") + 99042 * 1000;
    assertEquals(latest[4].collectedDate.getTime(), newestGen4);

    // The plan of the statement listBuildData sent, as a one-off and as the
    // generic plan a prepared statement ends up with.
    const [statement] = ctx.statements;
    for (const mode of ["auto", "force_generic_plan"]) {
      const plan = await sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL plan_cache_mode = ${mode}`);
        const [row] = await tx.unsafe(`EXPLAIN (FORMAT JSON) ${statement}`, ["node0042"]);
        return row["QUERY PLAN"][0].Plan;
      });
      const nodes = planNodes(plan);
      const onBuildData = nodes.filter((n) => n["Relation Name"] === "build_data");
      const shown = JSON.stringify(nodes.map((n) => [n["Node Type"], n["Index Name"]]));
      assert(onBuildData.length > 0, shown);
      assert(onBuildData.every((n) => n["Node Type"] !== "Seq Scan"), `${mode}: ${shown}`);
      assert(
        onBuildData.some((n) => n["Index Name"] === "build_data_node_generator_idx") ||
          nodes.some((n) => n["Index Name"] === "build_data_node_generator_idx"),
        `${mode}: ${shown}`,
      );
    }
  },
);
