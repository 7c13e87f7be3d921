/** `GET /health` and `GET /health/extended`. */
import { claimLeadership, createTask } from "../mod.ts";
import { createHttpHandler } from "../src/http/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { withSchema } from "./_helpers.ts";
import { httpTest, jsonOf, TOKEN } from "./_http.ts";

httpTest("health: 204 when the database answers and the schema is migrated", async (api) => {
  const r = await api.fetch("/api/v1.0/health");
  assertEquals(r.status, 204);
  assertEquals(r.headers.get("content-type"), "application/json");
});

Deno.test("health: 503 on a schema that is not migrated, and on a database that is down", async () => {
  await withSchema(async (sql) => {
    const r = await createHttpHandler(sql)(new Request("http://x/api/v1.0/health"));
    assertEquals(r.status, 503);
    assertEquals(await jsonOf(r), {
      type: "error",
      message: "database schema not migrated",
      retry: true,
    });
  }, { migrate: false });
  const postgres = (await import("postgres")).default;
  const down = postgres("postgres://postgres@127.0.0.1:1/none", { max: 1, connect_timeout: 1 });
  try {
    const handler = createHttpHandler(down, { onError: () => {} });
    const r = await handler(new Request("http://x/api/v1.0/health"));
    assertEquals(r.status, 503);
    assertEquals((await jsonOf(r) as { retry: boolean }).retry, true);
    const e = await handler(new Request("http://x/api/v1.0/tasks/" + crypto.randomUUID()));
    assertEquals(e.status, 503);
    assertEquals(await jsonOf(e), { type: "error", message: "database unavailable", retry: true });
  } finally {
    await down.end({ timeout: 1 });
  }
});

httpTest(
  "health/extended: Drydock's status dict plus database, migration, leader, queue",
  async (api) => {
    await createTask(api.sql, { action: "noop", status: "queued" });
    await createTask(api.sql, { action: "noop", status: "queued" });
    await createTask(api.sql, { action: "noop", status: "running" });
    const lease = await claimLeadership(api.sql, { identity: "drydock-0", leaseMs: 30_000 });
    const r = await api.fetch("/api/v1.0/health/extended", { headers: { "X-Auth-Token": TOKEN } });
    assertEquals(r.status, 200);
    // deno-lint-ignore no-explicit-any
    const h: any = await jsonOf(r);
    assertEquals([h.kind, h.apiVersion, h.status, h.reason, h.code], [
      "Status",
      "v1.0",
      "Success",
      "HealthCheck",
      200,
    ]);
    assertEquals(h.details.errorCount, 0);
    assertEquals(h.database.ok, true);
    assertEquals(h.migration.pending, []);
    assert(h.migration.applied > 0 && typeof h.migration.current === "string");
    assertEquals(h.leader.holder, "drydock-0");
    assertEquals(h.leader.term, lease!.term);
    assertEquals(h.queue, { queued: 2, running: 1 });
  },
);
