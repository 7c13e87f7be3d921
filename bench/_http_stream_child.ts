/**
 * Run by bench/http.ts in a fresh process: serves `GET /api/v1.0/tasks`
 * in-process over the schema in DATABASE_URL, reads the whole streamed
 * body, and prints one JSON line with the process's peak RSS, so nothing
 * the bench did before counts against the stream.
 */
import postgres from "postgres";
import { createHttpHandler } from "../src/http/mod.ts";

const mb = (bytes: number) => bytes / 1024 / 1024;
const sql = postgres(Deno.env.get("DATABASE_URL")!, { max: 2, onnotice: () => {} });
try {
  const startRss = mb(Deno.memoryUsage().rss);
  const handler = createHttpHandler(sql);
  const t = performance.now();
  const r = await handler(new Request("http://bench/api/v1.0/tasks"));
  let bytes = 0;
  for await (const chunk of r.body!) bytes += chunk.byteLength;
  const seconds = (performance.now() - t) / 1000;
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
  const peak = hwm ? Number(hwm) / 1024 : mb(Deno.memoryUsage().rss);
  console.log(JSON.stringify({ startRss, peak, bytes, seconds, status: r.status }));
} finally {
  await sql.end();
}
