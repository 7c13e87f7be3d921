/**
 * The `file:` resolver: reads a design from the local file system, inside
 * configured roots, up to a byte cap.
 *
 * @module
 */

import { type FileHandle, open, realpath, stat } from "node:fs/promises";
import { relative, sep } from "node:path";
import { DesignReferenceError, ValidationError } from "../errors.ts";
import { checkInteger, DEFAULT_MAX_BYTES } from "./_options.ts";
import { redactUri, safeCause } from "./_redact.ts";
import type { Resolver, ResolverResult } from "./types.ts";

/** Options of {@linkcode fileResolver}. */
export interface FileResolverOptions {
  /**
   * Absolute directories the design must lie in, checked on the real path
   * (after `..` and symlinks). A root that does not exist contains nothing.
   * @default no restriction: any absolute path the process may read
   */
  roots?: string[];
  /**
   * The largest file read, in bytes; a larger one throws `too_large`.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
}

/**
 * A resolver for `file:` URLs. It takes absolute paths with an empty or
 * `localhost` host only (`file://etc/passwd` is refused, not read as
 * `/passwd`), decodes the path before checking it (a percent-encoded `/`,
 * `..` or NUL is refused), resolves symlinks with `node:fs`'s `realpath`
 * (the same on Deno, Node and Bun) and refuses a real path outside
 * `roots`, and reads regular files of at most `maxBytes`. It touches the file system only when called.
 *
 * @param opts The roots and the byte cap.
 * @returns The resolver, to register for `file`.
 * @throws {ValidationError} When a root is not absolute or `maxBytes` is
 *   not a positive integer.
 *
 * @example Usage
 * ```ts
 * import { fileResolver, ResolverRegistry } from "@drydock/statemgmt";
 * const registry = new ResolverRegistry()
 *   .register("file", fileResolver({ roots: ["/srv/designs"], maxBytes: 8 << 20 }));
 * const doc = await registry.resolve("file:///srv/designs/site.yaml");
 * console.log(doc.bytes.length);
 * ```
 */
export function fileResolver(opts: FileResolverOptions = {}): Resolver {
  const maxBytes = checkInteger("maxBytes", opts.maxBytes, DEFAULT_MAX_BYTES, 1);
  const roots = opts.roots === undefined ? undefined : checkRoots(opts.roots);
  return async (url, { signal }) => {
    const shown = redactUri(url.href);
    const path = pathOf(url, shown);
    signal.throwIfAborted();
    const real = await realPathWithin(path, roots, shown);
    signal.throwIfAborted();
    return await readCapped(real, maxBytes, signal, shown);
  };
}

function checkRoots(roots: string[]): string[] {
  if (!Array.isArray(roots)) {
    throw new ValidationError([{ path: "roots", message: "must be an array of absolute paths" }]);
  }
  const issues = roots.flatMap((root, i) =>
    typeof root === "string" && isAbsolutePath(root) && !root.includes("\0")
      ? []
      : [{ path: `roots.${i}`, message: "must be an absolute path" }]
  );
  if (issues.length > 0) throw new ValidationError(issues);
  return [...roots];
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith("/") || /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith("\\\\");
}

/** The file-system path a `file:` URL names, after every syntactic check. */
function pathOf(url: URL, shown: string): string {
  const fail = (code: "invalid_uri" | "forbidden_path", why: string) =>
    new DesignReferenceError(code, `${shown}: ${why}`, { uri: shown });
  if (url.protocol !== "file:") throw fail("invalid_uri", "not a file: URL");
  if (url.host !== "") {
    throw fail(
      "invalid_uri",
      `a host ("${url.host}") in a file: URL; write file:/// or file://localhost/ before the absolute path`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw fail("invalid_uri", "a query or fragment in a file: URL");
  }
  // An encoded separator names no file; it only ever smuggles a path past
  // the URL parser's own `..` handling.
  if (/%2f|%5c/i.test(url.pathname)) throw fail("forbidden_path", "an encoded / or \\ in the path");
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch (err) {
    throw new DesignReferenceError("invalid_uri", `${shown}: malformed percent-encoding`, {
      uri: shown,
      cause: safeCause(err, []),
    });
  }
  if (decoded.includes("\0")) throw fail("invalid_uri", "a NUL byte in the path");
  if (decoded.split(/[\\/]/).includes("..")) throw fail("forbidden_path", "a `..` in the path");
  // file:///C:/x is C:\x on Windows; everywhere else the path is as written.
  if (sep === "\\" && /^\/[a-zA-Z]:\//.test(decoded)) return decoded.slice(1).replaceAll("/", "\\");
  return decoded;
}

function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolutePath(rel));
}

/** The real path of `path`, checked against the real paths of the roots. */
async function realPathWithin(
  path: string,
  roots: string[] | undefined,
  shown: string,
): Promise<string> {
  const realRoots = roots === undefined ? undefined : await realPaths(roots);
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    // Outside the roots, "missing" and "forbidden" must look the same, or
    // the error tells which files exist there.
    const outside = realRoots !== undefined &&
      !roots!.some((r) => isInside(path, r)) && !realRoots.some((r) => isInside(path, r));
    throw fsError(err, shown, outside);
  }
  if (realRoots !== undefined && !realRoots.some((root) => isInside(real, root))) {
    throw new DesignReferenceError(
      "forbidden_path",
      `${shown}: the real path is outside the allowed roots`,
      { uri: shown },
    );
  }
  return real;
}

async function realPaths(roots: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const root of roots) {
    try {
      found.push(await realpath(root));
    } catch (err) {
      // A missing root contains nothing; any other failure is the operator's to see.
      if (fsCode(err) !== "ENOENT") throw err;
    }
  }
  return found;
}

/** The node:fs error code (`ENOENT`, `EACCES`, …), the same on Deno, Node and Bun. */
function fsCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function fsError(err: unknown, shown: string, outside: boolean): DesignReferenceError {
  const cause = safeCause(err, []);
  if (outside) {
    return new DesignReferenceError("forbidden_path", `${shown}: outside the allowed roots`, {
      uri: shown,
      cause,
    });
  }
  const code = fsCode(err);
  if (code === "EACCES" || code === "EPERM" || (err as Error)?.name === "NotCapable") {
    return new DesignReferenceError("forbidden_path", `${shown}: permission denied`, {
      uri: shown,
      cause,
    });
  }
  const why = code === "ENOENT" || code === "ENOTDIR" ? "no such file" : "cannot be read";
  return new DesignReferenceError("not_found", `${shown}: ${why}`, { uri: shown, cause });
}

/** Reads a regular file, refusing it (not truncating it) past `maxBytes`. */
async function readCapped(
  path: string,
  maxBytes: number,
  signal: AbortSignal,
  shown: string,
): Promise<ResolverResult> {
  const tooLarge = (n: string) =>
    new DesignReferenceError("too_large", `${shown}: ${n} bytes, over the cap of ${maxBytes}`, {
      uri: shown,
    });
  let file: FileHandle;
  try {
    // stat before open: opening a FIFO or device could block or never end.
    const info = await stat(path);
    if (!info.isFile()) {
      throw new DesignReferenceError("not_found", `${shown}: not a regular file`, { uri: shown });
    }
    if (info.size > maxBytes) throw tooLarge(String(info.size));
    file = await open(path, "r");
  } catch (err) {
    if (err instanceof DesignReferenceError) throw err;
    throw fsError(err, shown, false);
  }
  try {
    const info = await file.stat();
    if (!info.isFile()) {
      throw new DesignReferenceError("not_found", `${shown}: not a regular file`, { uri: shown });
    }
    // One byte of slack shows a file that grew past the cap while read.
    let buf = new Uint8Array(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    while (true) {
      signal.throwIfAborted();
      if (length === buf.length) {
        if (length > maxBytes) throw tooLarge(`more than ${maxBytes}`);
        const grown = new Uint8Array(Math.min(buf.length * 2, maxBytes + 1));
        grown.set(buf);
        buf = grown;
      }
      const { bytesRead } = await file.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw tooLarge(`more than ${maxBytes}`);
    const bytes = length === buf.length ? buf : buf.subarray(0, length);
    const contentType = mediaType(path);
    return contentType === undefined ? { bytes } : { bytes, contentType };
  } catch (err) {
    if (err instanceof DesignReferenceError || signal.aborted) throw err;
    throw fsError(err, shown, false);
  } finally {
    await file.close();
  }
}

function mediaType(path: string): string | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "application/yaml";
  if (lower.endsWith(".json")) return "application/json";
  return undefined;
}
