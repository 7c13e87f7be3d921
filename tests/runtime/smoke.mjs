// Runtime smoke suite: plain JavaScript against the bundle of
// scripts/bundle.ts (the core and the CLI as JSR's npm layer serves them),
// run on Node 22 and Bun by `deno task smoke:node` / `smoke:bun`.
//
//   node tests/runtime/smoke.mjs BUNDLE_DIR      (DATABASE_URL optional)
//
// Each check works in a fresh schema; prints "N passed, N failed" and
// exits 1 when any check fails.
import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

const dir = resolve(process.argv[2] ?? "node_modules/.cache/statemgmt-npm");
const api = await import(pathToFileURL(join(dir, "mod.js")).href);
const { postgres } = await import(pathToFileURL(join(dir, "deps.js")).href);
const URL_ = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const runtime = globalThis.Bun
  ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno
  ? `deno ${globalThis.Deno.version.deno}`
  : `node ${process.versions.node}`;
const schema = `smoke_${randomUUID().replaceAll("-", "")}`;
const quiet = { onnotice: () => {} };
const pools = [];

function pool(max = 4) {
  const p = postgres(URL_, {
    max,
    connect_timeout: 10,
    connection: { search_path: schema },
    ...quiet,
  });
  pools.push(p);
  return p;
}

function check(ok, what) {
  if (!ok) throw new Error(what);
}

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const checks = [];
const test = (name, fn) => checks.push({ name, fn });

test("migrate into a fresh schema", async () => {
  const sql = pool();
  const { applied, current } = await api.migrate(sql);
  check(applied.length > 0 && current === applied.at(-1), `applied ${applied}`);
  check((await api.migrationStatus(sql)).pending.length === 0, "migrations left pending");
});

test("task lifecycle: create, claim, append a message, complete, getTask", async () => {
  const sql = pool();
  const task = await api.createTask(sql, { action: "deploy_nodes", status: "queued" });
  const claimed = await api.claimNextTask(sql, { claimedBy: "smoke" });
  check(claimed?.id === task.id && claimed.status === "running", "not claimed");
  await api.appendResultMessage(sql, task.id, { message: "node01 failed", error: true });
  await api.updateTask(sql, task.id, { status: "complete", result: { status: "success" } });
  const read = await api.getTask(sql, task.id);
  check(read.status === "complete" && read.result.status === "success", `status ${read.status}`);
  check(read.messages.length === 1 && read.result.errorCount === 1, "messages not attached");
  check(read.created instanceof Date, "created is not a Date");
});

test("claims: 4 concurrent workers take 40 tasks, each exactly once", async () => {
  const sql = pool(8);
  await api.createTasks(
    sql,
    Array.from({ length: 40 }, () => ({ action: "node_power", status: "queued" })),
  );
  const taken = [];
  const worker = async (name) => {
    for (;;) {
      const t = await api.claimNextTask(sql, { claimedBy: name, actions: ["node_power"] });
      if (!t) return;
      taken.push(t.id);
      await api.updateTask(sql, t.id, { status: "complete", result: { status: "success" } });
    }
  };
  await Promise.all(["w1", "w2", "w3", "w4"].map(worker));
  check(
    taken.length === 40 && new Set(taken).size === 40,
    `${taken.length} claims, ${new Set(taken).size} distinct`,
  );
  const left = await api.listTasks(sql, { action: "node_power", status: ["queued", "running"] });
  check(left.length === 0, `${left.length} left unfinished`);
});

test("watchTasks receives the events of a new task and its status change", async () => {
  const sql = pool();
  const seen = [];
  let wake;
  const watch = await api.watchTasks(sql, (event) => {
    seen.push(event);
    wake?.();
  });
  try {
    const task = await api.createTask(sql, { action: "deploy_nodes", status: "queued" });
    await api.updateTask(sql, task.id, { status: "running" });
    const mine = () => seen.filter((e) => e.taskId === task.id);
    await within(
      10_000,
      (async () => {
        while (!mine().some((e) => e.status === "running")) await new Promise((r) => (wake = r));
      })(),
      "no event for the task",
    );
  } finally {
    await watch.unlisten();
  }
});

test("LeaderElector hands over from one instance to another", async () => {
  const opts = { leaseMs: 3000, renewMs: 500, retryMs: 300 };
  const a = new api.LeaderElector(pool(2), { ...opts, identity: "smoke-a" });
  const b = new api.LeaderElector(pool(2), { ...opts, identity: "smoke-b" });
  try {
    await a.start();
    const first = await within(10_000, a.waitForLeadership(), "a never led");
    await b.start();
    check(!b.isLeader, "two leaders");
    await a.stop();
    const second = await within(10_000, b.waitForLeadership(), "b never took over");
    check(
      second.holder === "smoke-b" && second.term > first.term,
      `term ${first.term} → ${second.term}`,
    );
    check(a.signal.aborted, "a's signal was not aborted on stop");
  } finally {
    await a.stop();
    await b.stop();
  }
});

test("file: resolver reads a temp file (and refuses one outside its roots)", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "statemgmt-smoke-"));
  try {
    const path = join(tmp, "site.yaml");
    await writeFile(path, "schema: drydock/Site/v1\n");
    const doc = await api.createDefaultRegistry().resolve(pathToFileURL(path).href);
    check(new TextDecoder().decode(doc.bytes) === "schema: drydock/Site/v1\n", "wrong bytes");
    const sha = createHash("sha256").update("schema: drydock/Site/v1\n").digest("hex");
    check(doc.sha256.endsWith(sha), `sha256 ${doc.sha256}`);
    const confined = new api.ResolverRegistry().register(
      "file",
      api.fileResolver({ roots: [join(tmp, "sub")] }),
    );
    const err = await confined.resolve(pathToFileURL(path).href).then(() => null, (e) => e);
    check(
      err instanceof api.DesignReferenceError && err.code === "forbidden_path",
      `got ${err?.code ?? err}`,
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test("http: resolver fetches from a node:http server (and maps a 404)", async () => {
  const server = createServer((req, res) => {
    if (req.url === "/site.yaml") {
      res.writeHead(200, { "content-type": "application/yaml" }).end("a: 1\n");
    } else res.writeHead(404).end("no");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const base = `http://127.0.0.1:${server.address().port}`;
    const registry = api.createDefaultRegistry();
    const doc = await registry.resolve(`${base}/site.yaml`);
    check(new TextDecoder().decode(doc.bytes) === "a: 1\n", "wrong bytes");
    const err = await registry.resolve(`${base}/missing.yaml`).then(() => null, (e) => e);
    check(
      err instanceof api.DesignReferenceError && err.code === "http_status",
      `got ${err?.code ?? err}`,
    );
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("the CLI runs: migrate status exits 0, an unknown task exits 3", async () => {
  const url = new URL(URL_);
  url.searchParams.set("search_path", schema);
  const cli = (args) =>
    new Promise((done) => {
      execFile(
        process.execPath,
        [join(dir, "src/cli/mod.js"), ...args, "--url", url.href],
        (err, stdout, stderr) => done({ code: err ? err.code : 0, out: stdout + stderr }),
      );
    });
  const status = await cli(["migrate", "status"]);
  check(
    status.code === 0 && status.out.includes("up to date"),
    `migrate status: ${status.code} ${status.out}`,
  );
  const missing = await cli(["tasks", "show", randomUUID()]);
  check(
    missing.code === 3 && missing.out.includes("no task"),
    `tasks show: ${missing.code} ${missing.out}`,
  );
});

async function main() {
  const admin = postgres(URL_, { max: 1, connect_timeout: 10, ...quiet });
  let passed = 0;
  let failed = 0;
  console.log(`smoke on ${runtime}, bundle ${dir}`);
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    for (const { name, fn } of checks) {
      const start = performance.now();
      try {
        await within(60_000, fn(), name);
        passed++;
        console.log(`ok    ${name} (${Math.round(performance.now() - start)} ms)`);
      } catch (err) {
        failed++;
        console.log(`FAIL  ${name}: ${err?.stack ?? err}`);
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end({ timeout: 5 });
  }
  console.log(`${runtime}: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
