/**
 * Helpers of the design-reference tests: loopback servers that always shut
 * down, temp dirs that always go away, and checks on error codes and on
 * secrets in errors.
 */
import { assert, assertRejects } from "./_assert.ts";
import { DesignReferenceError, type DesignReferenceErrorCode } from "../src/errors.ts";

/** What a test server's handler gets besides the request. */
export interface ServerContext {
  /** Aborted just before the server shuts down: stalled handlers end then. */
  closing: AbortSignal;
}

/** A request as the server saw it (headers copied: a closed Request has none). */
export interface SeenRequest {
  url: string;
  headers: Headers;
}

/** A running loopback server. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  /** Every request received, in order. */
  requests: SeenRequest[];
}

/** Runs `fn` with a `Deno.serve` server on 127.0.0.1, port 0; shuts it down after. */
export async function withServer(
  handler: (req: Request, ctx: ServerContext) => Response | Promise<Response>,
  fn: (server: TestServer) => Promise<void>,
): Promise<void> {
  const closing = new AbortController();
  const requests: SeenRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      requests.push({ url: req.url, headers: new Headers(req.headers) });
      return handler(req, { closing: closing.signal });
    },
  );
  try {
    await fn({ base: `http://127.0.0.1:${server.addr.port}`, port: server.addr.port, requests });
  } finally {
    closing.abort();
    await server.shutdown();
  }
}

/** Runs `fn` with a fresh temp dir; removes it after. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "design_test_" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A loopback port nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Resolves when `signal` aborts (at once if it already has). */
export function untilAborted(...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    for (const signal of signals) {
      if (signal.aborted) return resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    }
  });
}

/**
 * A body that sends `head` and then nothing until one of `signals` aborts
 * or the reader cancels.
 */
export function stalledBody(
  head: Uint8Array,
  ...signals: AbortSignal[]
): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    async pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(head);
        return;
      }
      await untilAborted(...signals);
      controller.close();
    },
  });
}

/** A body that never ends: `chunk` again and again until cancelled. */
export function endlessBody(chunk: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(chunk);
    },
  });
}

/** Fails unless `fn` rejects with a DesignReferenceError of `code`; returns it. */
export async function rejectsWithCode(
  fn: () => Promise<unknown>,
  code: DesignReferenceErrorCode,
): Promise<DesignReferenceError> {
  const err = await assertRejects(fn, DesignReferenceError);
  assert(err.code === code, `expected code ${code}, got ${err.code}: ${err.message}`);
  return err;
}

/**
 * Fails if any of `secrets` appears in the error's message, stack, `uri`,
 * or anywhere down its `cause` chain (messages, stacks and other text).
 */
export function assertNoSecrets(err: unknown, secrets: string[]): void {
  const texts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 20; depth++) {
    if (current instanceof Error) {
      texts.push(current.message, String(current.stack), String(current));
      const uri = (current as { uri?: unknown }).uri;
      if (typeof uri === "string") texts.push(uri);
      current = current.cause;
    } else {
      texts.push(typeof current === "string" ? current : JSON.stringify(current) ?? "");
      current = undefined;
    }
  }
  for (const secret of secrets) {
    for (const text of texts) {
      assert(!text.includes(secret), `secret ${JSON.stringify(secret)} leaked into: ${text}`);
    }
  }
}

/** Random bytes (crypto.getRandomValues fills at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

/** The hex SHA-256 of `bytes`, computed independently of the registry. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compresses `bytes` with gzip. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
