/**
 * The status page in a real browser: Debian's Chromium, headless, driven
 * by playwright-core. A task created through the API appears without a
 * reload and changes status live as it is claimed and completed. Saves a
 * screenshot and prints its path. Skipped, saying so, where
 * /usr/bin/chromium is missing (`apt-get install chromium`).
 */
import { claimNextTask, createTask, updateTask } from "../../mod.ts";
import { createHttpHandler, tokenAuth } from "../../src/http/mod.ts";
import { assertEquals } from "../_assert.ts";
import { withSchema } from "../_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "browser-test-token";
const present = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!present) {
  console.warn(`status page test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
}

Deno.test({
  name: "status page: a task created through the API appears and changes status live",
  ignore: !present,
  sanitizeResources: false, // Chromium's pipes belong to playwright, closed by browser.close()
  sanitizeOps: false,
  fn: () =>
    withSchema(async (sql) => {
      const { chromium } = await import("playwright-core");
      const handler = createHttpHandler(sql, { ui: true, authorize: tokenAuth([TOKEN]) });
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
      try {
        const base = `http://127.0.0.1:${server.addr.port}`;
        const page = await browser.newPage({ viewport: { width: 1440, height: 860 } });
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(String(e)));
        await seed(sql);
        await page.goto(base + "/");
        await page.fill("#token", TOKEN);
        await page.click("#token-save");
        await page.waitForSelector("#live.on");

        const r = await fetch(base + "/api/v1.0/tasks", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Auth-Token": TOKEN },
          body: JSON.stringify({
            action: "deploy_nodes",
            design_ref: "deckhand+https://deckhand/api/v1.0/revisions/42/rendered-documents",
            node_filter: { node_names: ["cmp01", "cmp02"] },
          }),
        });
        assertEquals(r.status, 201);
        const { task_id: id } = await r.json();
        const status = page.locator(`tr[data-task-id="${id}"] td.status`);
        await status.getByText("queued").waitFor({ timeout: 10_000 });

        const claimed = await claimNextTask(sql, {
          claimedBy: "drydock-0",
          actions: ["deploy_nodes"],
        });
        assertEquals(claimed?.id, id);
        await status.getByText("running").waitFor({ timeout: 10_000 });

        await updateTask(sql, id, {
          status: "complete",
          result: { status: "success", successes: ["cmp01", "cmp02"], message: "deployed" },
        });
        await status.getByText("complete").waitFor({ timeout: 10_000 });
        await page.locator(`tr[data-task-id="${id}"] td.result`).getByText("success").waitFor();

        await page.click(`tr[data-task-id="${id}"]`);
        await page.locator("#detail dl").waitFor();
        const shot = await Deno.makeTempFile({ prefix: "status_page_", suffix: ".png" });
        await page.screenshot({ path: shot });
        console.log(`status page screenshot: ${shot}`);
        assertEquals(errors, []);
      } finally {
        await browser.close();
        await server.shutdown();
      }
    }),
});

/** A few tasks so the page shows what an operator sees mid-deploy. */
async function seed(sql: Parameters<typeof createTask>[0]): Promise<void> {
  const root = await createTask(sql, {
    action: "prepare_nodes",
    status: "running",
    designRef: "deckhand+https://deckhand/api/v1.0/revisions/41/rendered-documents",
  });
  for (const node of ["cmp01", "cmp02", "cmp03"]) {
    const t = await createTask(sql, {
      action: "prepare_node",
      parentTaskId: root.id,
      status: "queued",
    });
    if (node === "cmp03") {
      await updateTask(sql, t.id, {
        status: "complete",
        result: { status: "failure", failures: [node] },
      });
    }
  }
  await createTask(sql, { action: "validate_design", status: "complete" }).then((t) =>
    updateTask(sql, t.id, { status: "complete", result: { status: "success" } })
  );
}
