/**
 * Design-reference benchmark: resolving a 10 MiB document from a file and
 * from a loopback HTTP server, in MB/s, against a bare `Deno.readFile` /
 * `fetch` of the same bytes in the same run (alternating rounds, medians).
 *
 * Four rows: the resolvers alone (same work as the baseline: bytes only),
 * and `registry.resolve()` (which adds the SHA-256) against the baseline
 * plus `crypto.subtle.digest`, so each ratio compares equal work.
 *
 * Memory: each call is measured alone in a fresh child process (Linux):
 * warmed up on a tiny document, it reads `VmRSS` from /proc/self/status,
 * resets the peak (`5` into /proc/self/clear_refs), makes the one call,
 * keeps the result, and reads `VmHWM`, the peak resident set size.
 * `peakMiB` is `VmHWM - VmRSS`: every byte the call made the process hold
 * at its worst moment, garbage and allocator slack included. Elsewhere the
 * memory figures are left out.
 */
import { fileResolver } from "../src/design/file.ts";
import { httpResolver } from "../src/design/http.ts";
import { createDefaultRegistry } from "../src/design/registry.ts";

export type { BenchRow } from "./_harness.ts";
import type { BenchRow } from "./_harness.ts";

const MiB = 1024 * 1024;
const DOC_BYTES = 10 * MiB;

/**
 * Runs the design-reference benchmark.
 *
 * @param opts `quick: true` for CI: short rounds, a few seconds in all.
 * @returns One row per comparison.
 */
export async function benchDesign(opts: { quick: boolean }): Promise<BenchRow[]> {
  const ms = opts.quick ? 100 : 1000;
  const rounds = opts.quick ? 3 : 5;
  const doc = randomBytes(DOC_BYTES);
  const dir = await Deno.makeTempDir({ prefix: "bench_design_" });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new Response(new URL(req.url).pathname === "/tiny" ? doc.subarray(0, 1024) : doc, {
        headers: { "content-type": "application/octet-stream" },
      }),
  );
  try {
    const path = `${dir}/site.yaml`;
    await Deno.writeFile(path, doc);
    await Deno.writeFile(`${dir}/tiny.yaml`, doc.subarray(0, 1024));
    const httpUrl = `http://127.0.0.1:${server.addr.port}/site.yaml`;
    const cases = makeCases(path, httpUrl);
    const rows: BenchRow[] = [];
    const memory = await canMeasureMemory();
    for (const [index, [name, ours, baseline]] of cases.entries()) {
      const peak = memory ? await peakInChild(index, "ours", path, httpUrl) : undefined;
      const basePeak = memory ? await peakInChild(index, "baseline", path, httpUrl) : undefined;
      const oursRates: number[] = [];
      const baseRates: number[] = [];
      await ours(); // warm-up: JIT, connection pool, page cache
      await baseline();
      for (let r = 0; r < rounds; r++) {
        oursRates.push(await mbPerSec(ms, ours));
        baseRates.push(await mbPerSec(ms, baseline));
      }
      const o = median(oursRates);
      const b = median(baseRates);
      rows.push({
        name,
        opsPerSec: round(o),
        baselineOpsPerSec: round(b),
        ratio: round(o / b, 3),
        unit: "MB/s",
        extra: {
          docMiB: DOC_BYTES / MiB,
          ...(peak === undefined ? {} : { peakMiB: round(peak / MiB) }),
          ...(basePeak === undefined ? {} : { baselinePeakMiB: round(basePeak / MiB) }),
        },
      });
    }
    return rows;
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

type Op = () => Promise<Uint8Array>;

/** The four comparisons: [name, ours, baseline], each resolving `path` or `httpUrl`. */
function makeCases(path: string, httpUrl: string): [string, Op, Op][] {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const fileUrl = new URL(`file://${path}`);
  const url = new URL(httpUrl);
  const limits = { maxBytes: 2 * DOC_BYTES };
  const file = fileResolver({ roots: [dir], ...limits });
  const http = httpResolver(limits);
  const registry = createDefaultRegistry({ file: { roots: [dir], ...limits }, http: limits });
  const signal = new AbortController().signal;
  return [
    [
      "design: file 10 MiB, fileResolver vs Deno.readFile",
      async () => (await file(fileUrl, { signal })).bytes,
      () => Deno.readFile(path),
    ],
    [
      "design: http 10 MiB loopback, httpResolver vs fetch",
      async () => (await http(url, { signal })).bytes,
      async () => new Uint8Array(await (await fetch(url)).arrayBuffer()),
    ],
    [
      "design: file 10 MiB, registry.resolve (+sha256) vs readFile+digest",
      async () => (await registry.resolve(fileUrl)).bytes,
      async () => withDigest(await Deno.readFile(path)),
    ],
    [
      "design: http 10 MiB loopback, registry.resolve (+sha256) vs fetch+digest",
      async () => (await registry.resolve(url)).bytes,
      async () => withDigest(new Uint8Array(await (await fetch(url)).arrayBuffer())),
    ],
  ];
}

const STATUS = "/proc/self/status";
const CLEAR_REFS = "/proc/self/clear_refs";

async function canMeasureMemory(): Promise<boolean> {
  try {
    await Deno.readTextFile(STATUS);
    return true;
  } catch (err) {
    // Not Linux, or /proc not granted (it needs --allow-all): the memory
    // columns are left out, not guessed.
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) return false;
    throw err;
  }
}

/** Runs one call of a case in a fresh process; returns its peak RSS growth in bytes. */
async function peakInChild(
  index: number,
  side: "ours" | "baseline",
  path: string,
  httpUrl: string,
): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      // Deno grants /proc/self only with --allow-all.
      "--allow-all",
      new URL(import.meta.url).pathname,
      "--memory-child",
      String(index),
      side,
      path,
      httpUrl,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`memory child failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** In the child: warm up on a tiny document, then measure one call. */
async function memoryChild(args: string[]): Promise<void> {
  const [index, side, path, httpUrl] = args;
  const tiny = `${path.slice(0, path.lastIndexOf("/"))}/tiny.yaml`;
  const warm = makeCases(tiny, new URL("/tiny", httpUrl).href)[Number(index)];
  const pick = (c: [string, Op, Op]) => side === "ours" ? c[1] : c[2];
  await pick(warm)();
  const op = pick(makeCases(path, httpUrl)[Number(index)]);
  const kib = (text: string, key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)![1]);
  const before = kib(await Deno.readTextFile(STATUS), "VmRSS");
  await Deno.writeTextFile(CLEAR_REFS, "5");
  const result = await op();
  const peak = kib(await Deno.readTextFile(STATUS), "VmHWM");
  if (result.length !== DOC_BYTES) throw new Error(`got ${result.length} bytes`);
  console.log((peak - before) * 1024);
}

async function withDigest(bytes: Uint8Array): Promise<Uint8Array> {
  await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return bytes;
}

/** Resolves repeatedly for `ms`; returns MB/s (10^6 bytes per second). */
async function mbPerSec(ms: number, op: () => Promise<Uint8Array>): Promise<number> {
  let bytes = 0;
  const start = performance.now();
  do {
    const got = await op();
    if (got.length !== DOC_BYTES) throw new Error(`got ${got.length} bytes, not ${DOC_BYTES}`);
    bytes += got.length;
  } while (performance.now() - start < ms);
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

if (import.meta.main && Deno.args[0] === "--memory-child") {
  await memoryChild(Deno.args.slice(1));
} else if (import.meta.main) {
  const rows = await benchDesign({ quick: Deno.args.includes("--quick") });
  console.table(rows.map((r) => ({ ...r, extra: JSON.stringify(r.extra) })));
}
