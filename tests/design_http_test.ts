import { assert, assertEquals } from "./_assert.ts";
import {
  assertNoSecrets,
  closedPort,
  endlessBody,
  gzip,
  rejectsWithCode,
  stalledBody,
  untilAborted,
  withServer,
} from "./_design_helpers.ts";
import { httpResolver, type HttpResolverOptions } from "../src/design/http.ts";
import { ResolverRegistry } from "../src/design/registry.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A registry with only http/https, fast back-off so retries stay short. */
function registry(opts: HttpResolverOptions = {}): ResolverRegistry {
  const http = httpResolver({ backoffMs: 5, maxBackoffMs: 20, timeoutMs: 5_000, ...opts });
  return new ResolverRegistry().register("http", http).register("https", http);
}

function withAuth(base: string, user: string, password: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = password;
  return url.href.replace(/\/$/, "");
}

Deno.test("httpResolver() returns the body and its Content-Type", async () => {
  await withServer(
    () => new Response("kind: Site\n", { headers: { "content-type": "application/x-yaml" } }),
    async ({ base }) => {
      const doc = await registry().resolve(`${base}/site.yaml`);
      assertEquals(dec.decode(doc.bytes), "kind: Site\n");
      assertEquals(doc.contentType, "application/x-yaml");
      assertEquals(doc.uri, `${base}/site.yaml`);
    },
  );
});

Deno.test("httpResolver() sends userinfo as Basic auth and never in the URL", async () => {
  await withServer(() => new Response("ok"), async ({ base, requests }) => {
    const password = "p@ss:w/rd é";
    const uri = `${withAuth(base, "ops", password)}/site.yaml`;
    const doc = await registry().resolve(uri);
    assertEquals(requests[0].headers.get("authorization"), `Basic ${basic("ops", password)}`);
    assert(!requests[0].url.includes("ops"), requests[0].url);
    assertEquals(doc.uri, `http://ops:***@${base.slice(7)}/site.yaml`);
  });
});

Deno.test("httpResolver() fails a 404 with http_status and does not retry it", async () => {
  await withServer(() => new Response("no such design", { status: 404 }), async (server) => {
    const err = await rejectsWithCode(() => registry().resolve(`${server.base}/x`), "http_status");
    assertEquals(err.status, 404);
    assertEquals(server.requests.length, 1);
  });
});

Deno.test("httpResolver() never retries a 401 or 403 either", async () => {
  for (const status of [401, 403]) {
    await withServer(() => new Response(null, { status }), async (server) => {
      const err = await rejectsWithCode(
        () => registry().resolve(`${server.base}/x`),
        "http_status",
      );
      assertEquals(err.status, status);
      assertEquals(server.requests.length, 1);
    });
  }
});

Deno.test("httpResolver() retries a 500 `retries` times, then throws http_status", async () => {
  await withServer(() => new Response("boom", { status: 500 }), async (server) => {
    const err = await rejectsWithCode(
      () => registry({ retries: 2 }).resolve(`${server.base}/x`),
      "http_status",
    );
    assertEquals(err.status, 500);
    assertEquals(server.requests.length, 3);
    assert(err.message.includes("500"), err.message);
  });
});

Deno.test("httpResolver() succeeds when a retry after a 503 gets the design", async () => {
  let calls = 0;
  await withServer(
    () => ++calls < 3 ? new Response(null, { status: 503 }) : new Response("kind: Site"),
    async ({ base }) => {
      const doc = await registry({ retries: 3 }).resolve(`${base}/x`);
      assertEquals(dec.decode(doc.bytes), "kind: Site");
      assertEquals(calls, 3);
    },
  );
});

Deno.test("httpResolver() waits a growing, jittered back-off between retries", async () => {
  const times: number[] = [];
  await withServer(() => {
    times.push(performance.now());
    return new Response(null, { status: 502 });
  }, async ({ base }) => {
    await rejectsWithCode(
      () => registry({ retries: 2, backoffMs: 60, maxBackoffMs: 100 }).resolve(`${base}/x`),
      "http_status",
    );
  });
  assertEquals(times.length, 3);
  // equal jitter: the first wait is in [30, 60] ms, the second in [50, 100] ms (capped).
  assert(times[1] - times[0] >= 25, `first back-off ${times[1] - times[0]} ms`);
  assert(times[2] - times[1] >= 45, `second back-off ${times[2] - times[1]} ms`);
});

Deno.test("httpResolver() fails a refused connection with network after its retries", async () => {
  const err = await rejectsWithCode(
    () => registry({ retries: 1 }).resolve(`http://127.0.0.1:${closedPort()}/x`),
    "network",
  );
  assert(err.cause instanceof Error, "the fetch error is kept as the cause");
});

Deno.test("httpResolver() times out a server that never answers", async () => {
  await withServer(async (_req, { closing }) => {
    await untilAborted(closing);
    return new Response("late");
  }, async ({ base }) => {
    const started = performance.now();
    const err = await rejectsWithCode(
      () => registry({ timeoutMs: 200, retries: 0 }).resolve(`${base}/x`),
      "timeout",
    );
    assert(performance.now() - started < 3_000, "bounded by timeoutMs");
    assert(err.message.includes("200 ms"), err.message);
  });
});

Deno.test("httpResolver() times out a body that stalls after its first bytes", async () => {
  await withServer(
    (_req, { closing }) => new Response(stalledBody(enc.encode("kind: "), closing)),
    async ({ base, requests }) => {
      await rejectsWithCode(
        () => registry({ timeoutMs: 200, retries: 1 }).resolve(`${base}/x`),
        "timeout",
      );
      assertEquals(requests.length, 2, "a time-out is retried");
    },
  );
});

Deno.test("the caller's signal bounds the whole call, retries and back-off included", async () => {
  await withServer(() => new Response(null, { status: 500 }), async ({ base }) => {
    const caller = new AbortController();
    const timer = setTimeout(
      () => caller.abort(new DOMException("deadline", "TimeoutError")),
      150,
    );
    try {
      const started = performance.now();
      await rejectsWithCode(
        () =>
          registry({ retries: 50, backoffMs: 1_000, maxBackoffMs: 1_000 }).resolve(`${base}/x`, {
            signal: caller.signal,
          }),
        "timeout",
      );
      assert(performance.now() - started < 1_500, "stopped by the caller's signal");
    } finally {
      clearTimeout(timer);
    }
  });
});

Deno.test("httpResolver() refuses a declared Content-Length over maxBytes before reading", async () => {
  await withServer(() => new Response(new Uint8Array(4096)), async ({ base }) => {
    const err = await rejectsWithCode(
      () => registry({ maxBytes: 1024 }).resolve(`${base}/x`),
      "too_large",
    );
    assert(err.message.includes("Content-Length 4096"), err.message);
  });
  // With an injected fetch the body's reads are observable: none happen.
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      controller.enqueue(new Uint8Array(1024));
    },
  }, { highWaterMark: 0 });
  const fetch = () =>
    Promise.resolve(new Response(body, { headers: { "content-length": String(1 << 30) } }));
  await rejectsWithCode(
    () => registry({ maxBytes: 1024, fetch }).resolve("http://designs.invalid/x"),
    "too_large",
  );
  assertEquals(pulls, 0);
});

Deno.test("httpResolver() stops an endless body at the cap with too_large, not a truncated success", async () => {
  await withServer(() => new Response(endlessBody(new Uint8Array(16 * 1024))), async ({ base }) => {
    const err = await rejectsWithCode(
      () => registry({ maxBytes: 256 * 1024 }).resolve(`${base}/x`),
      "too_large",
    );
    assert(err.message.includes("262144"), err.message);
  });
});

Deno.test("httpResolver() counts decoded bytes: a gzip bomb stops at the cap", async () => {
  const bomb = await gzip(new Uint8Array(16 * 1024 * 1024));
  assert(bomb.length < 64 * 1024, `compressed to ${bomb.length} bytes`);
  await withServer(
    () => new Response(bomb, { headers: { "content-encoding": "gzip" } }),
    async ({ base }) => {
      await rejectsWithCode(
        () => registry({ maxBytes: 1024 * 1024 }).resolve(`${base}/x`),
        "too_large",
      );
      // The same body under a cap it fits is decoded in full.
      const doc = await registry({ maxBytes: 32 * 1024 * 1024 }).resolve(`${base}/x`);
      assertEquals(doc.bytes.length, 16 * 1024 * 1024);
    },
  );
});

Deno.test("httpResolver() accepts a body of exactly maxBytes", async () => {
  await withServer(() => new Response(new Uint8Array(1000).fill(65)), async ({ base }) => {
    const doc = await registry({ maxBytes: 1000 }).resolve(`${base}/x`);
    assertEquals(doc.bytes.length, 1000);
  });
});

Deno.test("httpResolver() follows redirects on the same origin, keeping credentials", async () => {
  await withServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/a") return Response.redirect(new URL("/b", req.url), 301);
    if (path === "/b") return new Response(null, { status: 307, headers: { location: "c" } });
    return new Response("kind: Site");
  }, async ({ base, requests }) => {
    const doc = await registry().resolve(`${withAuth(base, "ops", "pw")}/a`);
    assertEquals(dec.decode(doc.bytes), "kind: Site");
    assertEquals(requests.map((r) => new URL(r.url).pathname), ["/a", "/b", "/c"]);
    for (const r of requests) {
      assertEquals(r.headers.get("authorization"), `Basic ${basic("ops", "pw")}`);
    }
  });
});

Deno.test("httpResolver() stops a redirect loop with redirect", async () => {
  await withServer((req) => {
    const path = new URL(req.url).pathname;
    return Response.redirect(new URL(path === "/a" ? "/b" : "/a", req.url), 302);
  }, async ({ base, requests }) => {
    const err = await rejectsWithCode(() => registry().resolve(`${base}/a`), "redirect");
    assert(err.message.includes("loop"), err.message);
    assertEquals(requests.length, 2);
  });
});

Deno.test("httpResolver() follows at most 10 redirects", async () => {
  await withServer((req) => {
    const n = Number(new URL(req.url).pathname.slice(1));
    return n === 0 ? new Response("end") : Response.redirect(new URL(`/${n - 1}`, req.url), 302);
  }, async ({ base, requests }) => {
    const doc = await registry().resolve(`${base}/10`);
    assertEquals(dec.decode(doc.bytes), "end");
    requests.length = 0;
    const err = await rejectsWithCode(() => registry().resolve(`${base}/11`), "redirect");
    assert(err.message.includes("more than 10"), err.message);
    assertEquals(requests.length, 11);
  });
});

Deno.test("httpResolver() refuses a redirect to file: or to another scheme", async () => {
  for (const location of ["file:///etc/passwd", "https://127.0.0.1:1/x", "ftp://127.0.0.1/x"]) {
    await withServer(
      () => new Response(null, { status: 302, headers: { location } }),
      async ({ base, requests }) => {
        const err = await rejectsWithCode(() => registry().resolve(`${base}/a`), "redirect");
        assert(err.message.includes("refused"), err.message);
        assertEquals(requests.length, 1);
      },
    );
  }
});

Deno.test("Basic credentials never reach another origin, not even on the way back", async () => {
  let otherBase = "";
  await withServer((req) => {
    const path = new URL(req.url).pathname;
    return path === "/start"
      ? Response.redirect(`${otherBase}/hop`, 302)
      : new Response("kind: Site");
  }, async (origin) => {
    await withServer(() => Response.redirect(`${origin.base}/back`, 302), async (other) => {
      otherBase = other.base;
      const doc = await registry().resolve(`${withAuth(origin.base, "ops", "pw")}/start`);
      assertEquals(dec.decode(doc.bytes), "kind: Site");
      assertEquals(origin.requests.map((r) => new URL(r.url).pathname), ["/start", "/back"]);
      assertEquals(origin.requests[0].headers.get("authorization"), `Basic ${basic("ops", "pw")}`);
      assertEquals(other.requests.length, 1);
      assertEquals(other.requests[0].headers.get("authorization"), null);
      assertEquals(origin.requests[1].headers.get("authorization"), null);
    });
  });
});

Deno.test("httpResolver() does not adopt credentials from a redirect's Location", async () => {
  await withServer(() => new Response("kind: Site"), async (other) => {
    await withServer(
      () => Response.redirect(`${withAuth(other.base, "evil", "pw")}/x`, 302),
      async ({ base }) => {
        await registry().resolve(`${base}/a`);
        assertEquals(other.requests[0].headers.get("authorization"), null);
      },
    );
  });
});

Deno.test("errors of a 403, a 500, a time-out and a refused connection hold no secret", async () => {
  const password = "hunter2-Sup3rSecret";
  const token = "tok-8c1f0e3b7a";
  const body = "cleartext: db-password-in-body";
  const secrets = [password, token, body, "db-password-in-body"];
  const cases: [
    string,
    number,
    (req: Request, closing: AbortSignal) => Response | Promise<Response>,
  ][] = [
    ["403", 403, () => new Response(body, { status: 403 })],
    ["500", 500, () => new Response(body, { status: 500 })],
    ["time-out", 0, async (_req, closing) => {
      await untilAborted(closing);
      return new Response(body);
    }],
  ];
  for (const [, status, handler] of cases) {
    await withServer((req, { closing }) => handler(req, closing), async ({ base }) => {
      const uri = `${withAuth(base, "ops", password)}/site.yaml?token=${token}&rev=3`;
      const code = status === 0 ? "timeout" : "http_status";
      const err = await rejectsWithCode(
        () => registry({ retries: 1, timeoutMs: 200 }).resolve(uri),
        code,
      );
      assertNoSecrets(err, secrets);
      assert(err.uri.includes("token=***") && err.uri.includes("ops:***@"), err.uri);
    });
  }
  const refused = `${
    withAuth(`http://127.0.0.1:${closedPort()}`, "ops", password)
  }/x?token=${token}`;
  const err = await rejectsWithCode(() => registry({ retries: 1 }).resolve(refused), "network");
  assert(err.cause instanceof Error, "the cause is kept, scrubbed");
  assertNoSecrets(err, secrets);
});

Deno.test("httpResolver() checks its options", () => {
  for (const bad of [{ timeoutMs: 0 }, { maxBytes: -1 }, { retries: 1.5 }, { maxRedirects: 11 }]) {
    let thrown: unknown;
    try {
      httpResolver(bad);
    } catch (err) {
      thrown = err;
    }
    assert(thrown instanceof Error && thrown.name === "ValidationError", JSON.stringify(bad));
  }
});

function basic(user: string, password: string): string {
  const bytes = enc.encode(`${user}:${password}`);
  return btoa(String.fromCharCode(...bytes));
}
