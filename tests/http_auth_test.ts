/**
 * Auth of the HTTP face: every route but `/health` and the boot-action
 * report answers 401 without a valid `X-Auth-Token`.
 */
import { createTask } from "../mod.ts";
import { tokenAuth } from "../src/http/mod.ts";
import { ValidationError } from "../src/errors.ts";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { countRows } from "./_helpers.ts";
import { httpTest, jsonOf, TOKEN } from "./_http.ts";

const PROTECTED: [string, string][] = [
  ["GET", "/api/v1.0/tasks"],
  ["POST", "/api/v1.0/tasks"],
  ["DELETE", "/api/v1.0/tasks?days=0"],
  ["GET", "/api/v1.0/tasks/{id}"],
  ["GET", "/api/v1.0/tasks/{id}?layers=-1"],
  ["GET", "/api/v1.0/tasks/{id}/builddata"],
  ["GET", "/api/v1.0/tasks/{id}/events"],
  ["GET", "/api/v1.0/events"],
  ["GET", "/api/v1.0/nodes/n1/builddata"],
  ["GET", "/api/v1.0/health/extended"],
];

httpTest(
  "no token and a wrong token: 401 on every protected route, nothing written",
  async (api) => {
    const t = await createTask(api.sql, { action: "noop", status: "complete" });
    const before = await countRows(api.sql, ["tasks"]);
    for (const token of [null, "", "wrong", TOKEN + "x", TOKEN.slice(0, -1)]) {
      for (const [method, path] of PROTECTED) {
        const headers: Record<string, string> = { "Content-Type": "application/json" };
        if (token !== null) headers["X-Auth-Token"] = token;
        const r = await api.fetch(path.replace("{id}", t.id), {
          method,
          headers,
          body: method === "POST" ? '{"action":"noop","design_ref":"x"}' : undefined,
        });
        assertEquals(r.status, 401, `${method} ${path} with ${token}`);
        assertEquals(await jsonOf(r), {
          type: "error",
          message: "Unauthorized: a valid X-Auth-Token is required",
          retry: false,
        });
      }
    }
    assertEquals(await countRows(api.sql, ["tasks"]), before);
  },
);

httpTest("the right token passes; /health and the page need none", async (api) => {
  const ok = await api.fetch("/api/v1.0/tasks", { headers: { "X-Auth-Token": TOKEN } });
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
  assertEquals((await api.fetch("/api/v1.0/health")).status, 204);
  const page = await api.fetch("/");
  assertEquals(page.status, 200);
  assert(page.headers.get("content-type")?.startsWith("text/html"));
  assert(page.headers.get("content-security-policy")?.includes("default-src 'none'"));
  assert((await page.text()).includes("<title>Drydock statemgmt</title>"));
}, { ui: true });

Deno.test("tokenAuth(): refuses no tokens and empty ones; accepts any listed token", async () => {
  assertThrows(() => tokenAuth([]), ValidationError);
  assertThrows(() => tokenAuth(["a", ""]), ValidationError);
  const auth = tokenAuth(["one", "two"]);
  const req = (t?: string) =>
    new Request("http://x/", { headers: t === undefined ? {} : { "X-Auth-Token": t } });
  assertEquals(
    await Promise.all([req("one"), req("two"), req("three"), req(), req("")].map(auth)),
    [true, true, false, false, false],
  );
});

httpTest("without authorize every route is open", async (api) => {
  const r = await api.fetch("/api/v1.0/health/extended");
  assertEquals(r.status, 200);
  await r.body?.cancel();
}, { authorize: undefined });
