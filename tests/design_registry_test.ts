import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import {
  assertNoSecrets,
  rejectsWithCode,
  sha256Hex,
  withServer,
  withTempDir,
} from "./_design_helpers.ts";
import {
  createDefaultRegistry,
  redactUri,
  type Resolver,
  ResolverRegistry,
} from "../src/design/registry.ts";
import { ValidationError } from "../src/errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A resolver that answers `text` and records the URLs it was given. */
function stub(text: string, seen: string[] = []): Resolver {
  return (url) => {
    seen.push(url.href);
    return Promise.resolve({ bytes: enc.encode(text) });
  };
}

Deno.test("ResolverRegistry registers by lower-cased scheme and lists schemes sorted", () => {
  const registry = new ResolverRegistry()
    .register("HTTPS:", stub("a"))
    .register("Deckhand+HTTPS", stub("b"))
    .register("file", stub("c"));
  assertEquals(registry.schemes(), ["deckhand+https", "file", "https"]);
  assertEquals(registry.unregister("FILE"), true);
  assertEquals(registry.unregister("file"), false);
  assertEquals(registry.schemes(), ["deckhand+https", "https"]);
});

Deno.test("ResolverRegistry.register() refuses a malformed scheme or composite", () => {
  const registry = new ResolverRegistry();
  for (const bad of ["", "1http", "ht tp", "deckhand+ftp", "a+b+https", "deckhand+"]) {
    assertThrows(() => registry.register(bad, stub("x")), ValidationError);
  }
  assertThrows(
    () => registry.register("https", "not a function" as unknown as Resolver),
    ValidationError,
  );
});

Deno.test("resolve() picks the exact scheme: deckhand+https never falls back to https", async () => {
  const deckhand: string[] = [];
  const https: string[] = [];
  const registry = new ResolverRegistry()
    .register("https", stub("plain", https))
    .register("deckhand+https", stub("deckhand", deckhand));
  const doc = await registry.resolve("DeckHand+HTTPS://deckhand:9000/api/v1.0/revisions/1");
  assertEquals(dec.decode(doc.bytes), "deckhand");
  assertEquals(deckhand, ["deckhand+https://deckhand:9000/api/v1.0/revisions/1"]);
  registry.unregister("deckhand+https");
  await rejectsWithCode(
    () => registry.resolve("deckhand+https://deckhand:9000/x"),
    "unsupported_scheme",
  );
  assertEquals(https, []);
});

Deno.test("resolve() fails an unknown scheme with unsupported_scheme, naming the known ones", async () => {
  const registry = new ResolverRegistry().register("file", stub("x"));
  const err = await rejectsWithCode(
    () => registry.resolve("ftp://host/site.yaml"),
    "unsupported_scheme",
  );
  assert(err.message.includes("registered: file"), err.message);
  assertEquals(err.uri, "ftp://host/site.yaml");
});

Deno.test("resolve() fails an unparsable URI with invalid_uri and does not echo its password", async () => {
  const registry = createDefaultRegistry();
  for (const bad of ["not a uri", "https://ops:hunter2@[::1/x", "", "//host/x"]) {
    const err = await rejectsWithCode(() => registry.resolve(bad), "invalid_uri");
    assertNoSecrets(err, ["hunter2"]);
  }
});

Deno.test("resolve() refuses control characters and surrounding spaces instead of dropping them", async () => {
  const registry = new ResolverRegistry().register("https", stub("x"));
  for (const bad of ["https://h/a\tb", "https://h/a\nb", "https://h/a\0b", " https://h/x"]) {
    await rejectsWithCode(() => registry.resolve(bad), "invalid_uri");
  }
  await rejectsWithCode(() => registry.resolve(`https://h/${"a".repeat(9000)}`), "invalid_uri");
});

Deno.test("resolve() refuses a composite whose inner scheme is not http or https", async () => {
  const registry = new ResolverRegistry().register("https", stub("x"));
  for (const bad of ["deckhand+ftp://h/x", "deckhand+file:///etc/passwd", "a+b+https://h/x"]) {
    await rejectsWithCode(() => registry.resolve(bad), "invalid_uri");
  }
});

Deno.test("resolve() returns the bytes' SHA-256 and the URI with credentials redacted", async () => {
  const seen: string[] = [];
  const registry = new ResolverRegistry().register("https", stub("abc", seen));
  const doc = await registry.resolve("https://ops:hunter2@designs/site.yaml?token=t0k&rev=3");
  assertEquals(doc.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assertEquals(doc.sha256, await sha256Hex(doc.bytes));
  assertEquals(doc.uri, "https://ops:***@designs/site.yaml?token=***&rev=3");
  // the resolver itself gets the real URI: it needs the credentials
  assertEquals(seen, ["https://ops:hunter2@designs/site.yaml?token=t0k&rev=3"]);
});

Deno.test("resolve() checks an expected sha256 and fails a mismatch with integrity", async () => {
  const registry = new ResolverRegistry().register("https", stub("abc"));
  const good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  await registry.resolve("https://h/x", { sha256: good });
  await registry.resolve("https://h/x", { sha256: `sha256:${good.toUpperCase()}` });
  const err = await rejectsWithCode(
    () => registry.resolve("https://h/x", { sha256: "0".repeat(64) }),
    "integrity",
  );
  assert(err.message.includes(good), err.message);
});

Deno.test("resolve() refuses a malformed expected sha256 before resolving", async () => {
  const seen: string[] = [];
  const registry = new ResolverRegistry().register("https", stub("abc", seen));
  await assertRejects(() => registry.resolve("https://h/x", { sha256: "abc" }), ValidationError);
  assertEquals(seen, []);
});

Deno.test("resolve() turns the caller's TimeoutError into code timeout, even if the resolver hangs", async () => {
  const registry = new ResolverRegistry().register("https", () => new Promise(() => {}));
  const caller = new AbortController();
  const timer = setTimeout(() => caller.abort(new DOMException("late", "TimeoutError")), 50);
  try {
    await rejectsWithCode(
      () => registry.resolve("https://h/x", { signal: caller.signal }),
      "timeout",
    );
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("resolve() rethrows any other abort reason of the caller as it is", async () => {
  const registry = new ResolverRegistry().register("https", () => new Promise(() => {}));
  const caller = new AbortController();
  const reason = new Error("orchestrator shutting down");
  const timer = setTimeout(() => caller.abort(reason), 20);
  try {
    let thrown: unknown;
    try {
      await registry.resolve("https://h/x", { signal: caller.signal });
    } catch (err) {
      thrown = err;
    }
    assert(thrown === reason, String(thrown));
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("resolve() wraps a custom resolver's own error, scrubbed of the URI's secrets", async () => {
  const registry = new ResolverRegistry().register("s3", (url) => {
    const proxy = new Error("via http://proxyuser:proxy-pw-42@proxy:3128 refused");
    throw new Error(`cannot GET ${url.href}`, {
      cause: new Error(`secret ${url.password}`, { cause: proxy }),
    });
  });
  const err = await rejectsWithCode(
    () => registry.resolve("s3://AKIA:wJalrXUtnFEMI@bucket/site.yaml?X-Amz-Signature=deadbeef"),
    "network",
  );
  assert(err.cause instanceof Error, "the cause is kept");
  assertNoSecrets(err, ["wJalrXUtnFEMI", "deadbeef", "proxy-pw-42"]);
});

Deno.test("resolve() refuses a resolver result without Uint8Array bytes", async () => {
  const registry = new ResolverRegistry().register(
    "https",
    () => Promise.resolve({ bytes: "text" as unknown as Uint8Array }),
  );
  await assertRejects(() => registry.resolve("https://h/x"), TypeError);
});

Deno.test("createDefaultRegistry() registers file, http(s), deckhand+http(s), promenade+http(s)", () => {
  assertEquals(createDefaultRegistry().schemes(), [
    "deckhand+http",
    "deckhand+https",
    "file",
    "http",
    "https",
    "promenade+http",
    "promenade+https",
  ]);
  assertEquals(
    createDefaultRegistry({ file: false, promenade: false }).schemes(),
    ["deckhand+http", "deckhand+https", "http", "https"],
  );
  assertEquals(createDefaultRegistry({ http: false, deckhand: false }).schemes(), [
    "file",
    "promenade+http",
    "promenade+https",
  ]);
});

Deno.test("createDefaultRegistry() resolves each scheme end to end", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/site.yaml`, "from: file\n");
    await withServer(
      (req) => new Response(`from: ${new URL(req.url).pathname}`),
      async ({ base }) => {
        const registry = createDefaultRegistry({ file: { roots: [dir] } });
        const got = async (uri: string) => dec.decode((await registry.resolve(uri)).bytes);
        assertEquals(await got(`file://${dir}/site.yaml`), "from: file\n");
        assertEquals(await got(`${base}/plain`), "from: /plain");
        assertEquals(await got(`deckhand+${base}/dh`), "from: /dh");
        assertEquals(await got(`promenade+${base}/pm`), "from: /pm");
      },
    );
  });
});

Deno.test("createDefaultRegistry() passes the http options on to the deckhand resolvers", async () => {
  await withServer(() => new Response(new Uint8Array(2048)), async ({ base }) => {
    const registry = createDefaultRegistry({ http: { maxBytes: 1024 } });
    await rejectsWithCode(() => registry.resolve(`${base}/x`), "too_large");
    await rejectsWithCode(() => registry.resolve(`deckhand+${base}/x`), "too_large");
    const roomy = createDefaultRegistry({ http: { maxBytes: 1024 }, deckhand: { maxBytes: 4096 } });
    assertEquals((await roomy.resolve(`deckhand+${base}/x`)).bytes.length, 2048);
  });
});

Deno.test("createDefaultRegistry() checks options when built, not when resolving", () => {
  assertThrows(() => createDefaultRegistry({ file: { roots: ["relative"] } }), ValidationError);
  assertThrows(() => createDefaultRegistry({ http: { timeoutMs: -1 } }), ValidationError);
});

Deno.test("redactUri() masks passwords, token-like userinfo and credential-like values", () => {
  assertEquals(
    redactUri("https://ops:hunter2@h:9000/p?token=abc&rev=3#access_token=xyz"),
    "https://ops:***@h:9000/p?token=***&rev=3#access_token=***",
  );
  assertEquals(redactUri("https://ghp_abcdef@github.com/x"), "https://***@github.com/x");
  assertEquals(
    redactUri("s3://b/k?X-Amz-Signature=1&X-Amz-Credential=2&api_key=3&Password=4&sig=5"),
    "s3://b/k?X-Amz-Signature=***&X-Amz-Credential=***&api_key=***&Password=***&sig=***",
  );
  assertEquals(redactUri("https://p@ss:w@rd@h/x"), "https://p@ss:***@h/x");
  assertEquals(redactUri("user:secret@host/x"), "user:***@host/x");
  assertEquals(redactUri("https://h/a\nb"), "https://h/a\\u000ab");
  assertEquals(redactUri("file:///srv/a@b/site.yaml"), "file:///srv/a@b/site.yaml");
});
