/**
 * Run by bench/scale.ts in a fresh process: streams every task of the
 * schema in DATABASE_URL with iterateTasks (default page size) and prints
 * one JSON line with the process's peak RSS, so nothing the bench did
 * before counts against the stream.
 */
import postgres from "postgres";
import { iterateTasks } from "../mod.ts";

const mb = (bytes: number) => bytes / 1024 / 1024;
const sql = postgres(Deno.env.get("DATABASE_URL")!, { max: 1, onnotice: () => {} });
try {
  const startRss = mb(Deno.memoryUsage().rss);
  let sampled = startRss;
  let count = 0;
  const t = performance.now();
  for await (const _task of iterateTasks(sql)) {
    if (++count % 1000 === 0) sampled = Math.max(sampled, mb(Deno.memoryUsage().rss));
  }
  const seconds = (performance.now() - t) / 1000;
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
  const peak = hwm ? Number(hwm) / 1024 : sampled;
  console.log(JSON.stringify({ startRss, sampled, peak, count, seconds }));
} finally {
  await sql.end();
}
