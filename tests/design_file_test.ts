import { assert, assertEquals } from "./_assert.ts";
import { rejectsWithCode, withTempDir } from "./_design_helpers.ts";
import { fileResolver, type FileResolverOptions } from "../src/design/file.ts";
import { ResolverRegistry } from "../src/design/registry.ts";
import { ValidationError } from "../src/errors.ts";

const dec = new TextDecoder();

function registry(opts: FileResolverOptions = {}): ResolverRegistry {
  return new ResolverRegistry().register("file", fileResolver(opts));
}

/** `dir/root` (the allowed root, with site.yaml) and `dir/outside/secret.txt`. */
async function layout(dir: string): Promise<{ root: string; outside: string }> {
  const root = `${dir}/root`;
  const outside = `${dir}/outside`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${root}/site.yaml`, "kind: Site\n");
  await Deno.writeTextFile(`${root}/sub/rack.yaml`, "kind: Rack\n");
  await Deno.writeTextFile(`${outside}/secret.txt`, "root:x:0:0\n");
  return { root, outside };
}

Deno.test("fileResolver() reads an absolute file:/// path and names YAML", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    const doc = await registry({ roots: [root] }).resolve(`file://${root}/site.yaml`);
    assertEquals(dec.decode(doc.bytes), "kind: Site\n");
    assertEquals(doc.contentType, "application/yaml");
    assertEquals(doc.uri, `file://${root}/site.yaml`);
  });
});

Deno.test("fileResolver() accepts a localhost host and percent-encoded names", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/my site #1.yaml`, "kind: Site\n");
    const doc = await registry({ roots: [dir] }).resolve(
      `file://localhost${dir}/my%20site%20%231.yaml`,
    );
    assertEquals(dec.decode(doc.bytes), "kind: Site\n");
  });
});

Deno.test("fileResolver() without roots reads any absolute path", async () => {
  await withTempDir(async (dir) => {
    const { outside } = await layout(dir);
    const doc = await registry().resolve(`file://${outside}/secret.txt`);
    assertEquals(doc.bytes.length, 11);
    assertEquals(doc.contentType, undefined);
  });
});

Deno.test("fileResolver() fails a missing file with not_found", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    const err = await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${root}/nope.yaml`),
      "not_found",
    );
    assert(err.message.includes("no such file"), err.message);
  });
});

Deno.test("fileResolver() fails a directory with not_found", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${root}/sub`),
      "not_found",
    );
  });
});

Deno.test("fileResolver() refuses a host in a file: URL instead of dropping it", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    // file://root/site.yaml would otherwise be read as /site.yaml
    const err = await rejectsWithCode(() => registry().resolve("file://etc/passwd"), "invalid_uri");
    assert(err.message.includes('host ("etc")'), err.message);
    await rejectsWithCode(
      () => registry().resolve(`file://${root.slice(1)}/site.yaml`),
      "invalid_uri",
    );
  });
});

Deno.test("fileResolver() refuses `..` that leaves the root", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    // The URL parser folds the `..` away; the real path is then outside.
    await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${root}/../outside/secret.txt`),
      "forbidden_path",
    );
    await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${root}/sub/%2e%2e/../outside/secret.txt`),
      "forbidden_path",
    );
  });
});

Deno.test("fileResolver() refuses a percent-encoded `..` or `/` in the path", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    for (
      const path of ["..%2Foutside%2Fsecret.txt", "%2E%2E%2Foutside/secret.txt", "sub%2Frack.yaml"]
    ) {
      await rejectsWithCode(
        () => registry().resolve(`file://${root}/${path}`),
        "forbidden_path",
      );
    }
    await rejectsWithCode(
      () => registry().resolve(`file://${root}/sub%5C..%5C..%5Coutside`),
      "forbidden_path",
    );
  });
});

Deno.test("fileResolver() refuses a NUL byte, raw or encoded", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    await rejectsWithCode(
      () => registry().resolve(`file://${root}/site.yaml%00.txt`),
      "invalid_uri",
    );
    await rejectsWithCode(() => registry().resolve(`file://${root}/site.yaml\0`), "invalid_uri");
  });
});

Deno.test("fileResolver() refuses a query or fragment", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    await rejectsWithCode(
      () => registry().resolve(`file://${root}/site.yaml?rev=1`),
      "invalid_uri",
    );
    await rejectsWithCode(() => registry().resolve(`file://${root}/site.yaml#top`), "invalid_uri");
  });
});

Deno.test("fileResolver() refuses a symlinked file pointing outside the root", async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await layout(dir);
    await Deno.symlink(`${outside}/secret.txt`, `${root}/link.yaml`);
    const err = await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${root}/link.yaml`),
      "forbidden_path",
    );
    assert(err.message.includes("outside the allowed roots"), err.message);
  });
});

Deno.test("fileResolver() refuses a symlinked directory pointing outside the root", async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await layout(dir);
    await Deno.symlink(outside, `${root}/shared`);
    await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${root}/shared/secret.txt`),
      "forbidden_path",
    );
  });
});

Deno.test("fileResolver() follows a symlink that stays inside the root", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    await Deno.symlink(`${root}/sub`, `${root}/current`);
    const doc = await registry({ roots: [root] }).resolve(`file://${root}/current/rack.yaml`);
    assertEquals(dec.decode(doc.bytes), "kind: Rack\n");
  });
});

Deno.test("fileResolver() checks roots on their real path, so a symlinked root works", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    await Deno.symlink(root, `${dir}/designs`);
    const doc = await registry({ roots: [`${dir}/designs`] }).resolve(`file://${root}/site.yaml`);
    assertEquals(dec.decode(doc.bytes), "kind: Site\n");
  });
});

Deno.test("fileResolver() answers forbidden_path, not not_found, for a missing file outside the roots", async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await layout(dir);
    await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${outside}/nope.txt`),
      "forbidden_path",
    );
    await rejectsWithCode(
      () => registry({ roots: [root] }).resolve(`file://${outside}/secret.txt`),
      "forbidden_path",
    );
  });
});

Deno.test("fileResolver() refuses a file over maxBytes and reads one of exactly maxBytes", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/big.yaml`, new Uint8Array(1025));
    await Deno.writeFile(`${dir}/fits.yaml`, new Uint8Array(1024));
    const err = await rejectsWithCode(
      () => registry({ maxBytes: 1024 }).resolve(`file://${dir}/big.yaml`),
      "too_large",
    );
    assert(err.message.includes("1025"), err.message);
    const doc = await registry({ maxBytes: 1024 }).resolve(`file://${dir}/fits.yaml`);
    assertEquals(doc.bytes.length, 1024);
  });
});

Deno.test("fileResolver() stops when the caller's signal is already aborted", async () => {
  await withTempDir(async (dir) => {
    const { root } = await layout(dir);
    const controller = new AbortController();
    controller.abort(new Error("shutting down"));
    let thrown: unknown;
    try {
      await registry().resolve(`file://${root}/site.yaml`, { signal: controller.signal });
    } catch (err) {
      thrown = err;
    }
    assertEquals((thrown as Error).message, "shutting down");
  });
});

Deno.test("fileResolver() checks its options", () => {
  for (const bad of [{ roots: ["relative/dir"] }, { maxBytes: 0 }, { roots: ["/a\0b"] }]) {
    let thrown: unknown;
    try {
      fileResolver(bad);
    } catch (err) {
      thrown = err;
    }
    assert(thrown instanceof ValidationError, JSON.stringify(bad));
  }
});
