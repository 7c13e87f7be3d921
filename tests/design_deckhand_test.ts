import { assert, assertEquals } from "./_assert.ts";
import { assertNoSecrets, rejectsWithCode, withServer } from "./_design_helpers.ts";
import { deckhandResolver, type DeckhandResolverOptions } from "../src/design/deckhand.ts";
import { createDefaultRegistry, ResolverRegistry } from "../src/design/registry.ts";

const dec = new TextDecoder();
const RENDERED = "/api/v1.0/revisions/7/rendered-documents";

function registry(opts: DeckhandResolverOptions): ResolverRegistry {
  const deckhand = deckhandResolver({ backoffMs: 5, maxBackoffMs: 20, ...opts });
  return new ResolverRegistry()
    .register("deckhand+http", deckhand)
    .register("promenade+http", deckhand);
}

/** `http://127.0.0.1:p` → `deckhand+http://127.0.0.1:p` */
function composite(base: string, family = "deckhand"): string {
  return `${family}+${base}`;
}

Deno.test("deckhandResolver() drops the prefix, keeps path and query, and sends X-Auth-Token", async () => {
  await withServer(
    () =>
      new Response("---\nschema: deckhand/LayeringPolicy/v1\n", {
        headers: { "content-type": "application/x-yaml" },
      }),
    async ({ base, requests }) => {
      const doc = await registry({ token: () => "tok-1" }).resolve(
        `${composite(base)}${RENDERED}?metadata.layeringDefinition.abstract=false`,
      );
      assertEquals(dec.decode(doc.bytes), "---\nschema: deckhand/LayeringPolicy/v1\n");
      assertEquals(doc.contentType, "application/x-yaml");
      assertEquals(requests.length, 1);
      assertEquals(
        requests[0].url,
        `${base}${RENDERED}?metadata.layeringDefinition.abstract=false`,
      );
      assertEquals(requests[0].headers.get("x-auth-token"), "tok-1");
    },
  );
});

Deno.test("promenade+http is served by the same resolver", async () => {
  await withServer(() => new Response("kind: Genesis"), async ({ base, requests }) => {
    const doc = await registry({ token: async () => await Promise.resolve("tok-p") }).resolve(
      `${composite(base, "promenade")}/api/v1.0/join-scripts`,
    );
    assertEquals(dec.decode(doc.bytes), "kind: Genesis");
    assertEquals(requests[0].url, `${base}/api/v1.0/join-scripts`);
    assertEquals(requests[0].headers.get("x-auth-token"), "tok-p");
  });
});

Deno.test("createDefaultRegistry() resolves deckhand+http and promenade+http with the token", async () => {
  await withServer(() => new Response("docs"), async ({ base, requests }) => {
    const reg = createDefaultRegistry({ deckhand: { token: () => "tok-d" } });
    await reg.resolve(`${composite(base)}${RENDERED}`);
    await reg.resolve(`${composite(base, "promenade")}/x`);
    assertEquals(requests.map((r) => r.headers.get("x-auth-token")), ["tok-d", "tok-d"]);
  });
});

Deno.test("deckhandResolver() asks for a fresh token once after a 401", async () => {
  const asked: boolean[] = [];
  await withServer(
    (req) =>
      req.headers.get("x-auth-token") === "fresh"
        ? new Response("docs")
        : new Response("token expired", { status: 401 }),
    async ({ base, requests }) => {
      const token = ({ refresh }: { refresh: boolean }) => {
        asked.push(refresh);
        return refresh ? "fresh" : "stale";
      };
      const doc = await registry({ token }).resolve(`${composite(base)}${RENDERED}`);
      assertEquals(dec.decode(doc.bytes), "docs");
      assertEquals(asked, [false, true]);
      assertEquals(requests.map((r) => r.headers.get("x-auth-token")), ["stale", "fresh"]);
    },
  );
});

Deno.test("deckhandResolver() gives up after the second 401 with http_status", async () => {
  const asked: boolean[] = [];
  await withServer(() => new Response(null, { status: 401 }), async ({ base, requests }) => {
    const token = ({ refresh }: { refresh: boolean }) => {
      asked.push(refresh);
      return "rejected-token";
    };
    const err = await rejectsWithCode(
      () => registry({ token }).resolve(`${composite(base)}${RENDERED}`),
      "http_status",
    );
    assertEquals(err.status, 401);
    assertEquals(asked, [false, true]);
    assertEquals(requests.length, 2);
    assertNoSecrets(err, ["rejected-token"]);
  });
});

Deno.test("deckhandResolver() does not refresh the token on a 403", async () => {
  const asked: boolean[] = [];
  await withServer(() => new Response(null, { status: 403 }), async ({ base, requests }) => {
    const token = ({ refresh }: { refresh: boolean }) => {
      asked.push(refresh);
      return "t";
    };
    await rejectsWithCode(
      () => registry({ token }).resolve(`${composite(base)}${RENDERED}`),
      "http_status",
    );
    assertEquals(asked, [false]);
    assertEquals(requests.length, 1);
  });
});

Deno.test("deckhandResolver() without a token provider sends no X-Auth-Token", async () => {
  await withServer(() => new Response("docs"), async ({ base, requests }) => {
    await createDefaultRegistry().resolve(`${composite(base)}${RENDERED}`);
    assertEquals(requests[0].headers.get("x-auth-token"), null);
  });
});

Deno.test("the token never follows a redirect to another origin", async () => {
  await withServer(() => new Response("docs"), async (other) => {
    await withServer(
      () => Response.redirect(`${other.base}${RENDERED}`, 302),
      async ({ base, requests }) => {
        const doc = await registry({ token: () => "tok-secret" }).resolve(
          `${composite(base)}${RENDERED}`,
        );
        assertEquals(dec.decode(doc.bytes), "docs");
        assertEquals(requests[0].headers.get("x-auth-token"), "tok-secret");
        assertEquals(other.requests.length, 1);
        assertEquals(other.requests[0].headers.get("x-auth-token"), null);
      },
    );
  });
});

Deno.test("a 401 from another origin after a redirect does not ask for a fresh token", async () => {
  const asked: boolean[] = [];
  await withServer(() => new Response(null, { status: 401 }), async (other) => {
    await withServer(() => Response.redirect(`${other.base}/x`, 302), async ({ base }) => {
      const token = ({ refresh }: { refresh: boolean }) => {
        asked.push(refresh);
        return "t";
      };
      await rejectsWithCode(
        () => registry({ token }).resolve(`${composite(base)}/x`),
        "http_status",
      );
      assertEquals(asked, [false]);
    });
  });
});

Deno.test("deckhandResolver() refuses a composite without //host", async () => {
  const reg = registry({ token: () => "t" });
  await rejectsWithCode(() => reg.resolve("deckhand+http:/api/v1.0/revisions"), "invalid_uri");
  await rejectsWithCode(() => reg.resolve("deckhand+http:///api/v1.0/revisions"), "invalid_uri");
});

Deno.test("a failing token provider is a network error carrying the provider's error", async () => {
  await withServer(() => new Response("docs"), async ({ base, requests }) => {
    const err = await rejectsWithCode(
      () =>
        registry({
          token: () => {
            throw new Error("keystone unreachable");
          },
        }).resolve(`${composite(base)}/x`),
      "network",
    );
    assert(err.cause instanceof Error && err.cause.message === "keystone unreachable");
    assertEquals(requests.length, 0);
  });
});

Deno.test("a token with a line break is refused before any request", async () => {
  await withServer(() => new Response("docs"), async ({ base, requests }) => {
    const err = await rejectsWithCode(
      () => registry({ token: () => "abc\r\nX-Evil: 1" }).resolve(`${composite(base)}/x`),
      "network",
    );
    assertNoSecrets(err, ["X-Evil"]);
    assertEquals(requests.length, 0);
  });
});

Deno.test("deckhand errors of a 500 hold neither the token nor the body", async () => {
  const token = "gAAAAABk-keystone-token";
  const body = "cleartext-secret: ipmi-password";
  await withServer(() => new Response(body, { status: 500 }), async ({ base }) => {
    const err = await rejectsWithCode(
      () => registry({ token: () => token, retries: 1 }).resolve(`${composite(base)}${RENDERED}`),
      "http_status",
    );
    assertEquals(err.status, 500);
    assertNoSecrets(err, [token, body, "ipmi-password"]);
  });
});
