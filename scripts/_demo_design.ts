/**
 * The design-reference part of the demo: a site design written to a
 * directory and resolved through the default registry, as the orchestrator
 * does before it hands the bytes to an ingester; plus two references the
 * registry refuses, to show it does.
 */
import { createDefaultRegistry } from "../src/design/registry.ts";
import { DesignReferenceError } from "../src/errors.ts";

/** What {@linkcode resolveDemoDesign} resolved, and what it refused. */
export interface DemoDesign {
  /** The design reference resolved (credentials, had there been any, redacted). */
  uri: string;
  /** SHA-256 of the design, 64 hex digits. */
  sha256: string;
  /** Size of the design in bytes. */
  bytes: number;
  /** References refused, with the error code each got. */
  refused: { uri: string; code: string }[];
}

const SITE_DESIGN = `---
schema: drydock/Region/v1
metadata:
  schema: metadata/Document/v1
  name: demo-site
data:
  tag_definitions: []
  authorized_keys: []
---
schema: drydock/NetworkLink/v1
metadata:
  schema: metadata/Document/v1
  name: oob
data:
  bonding:
    mode: disabled
  mtu: 1500
  linkspeed: auto
  trunking:
    mode: disabled
    default_network: oob
---
schema: drydock/Network/v1
metadata:
  schema: metadata/Document/v1
  name: oob
data:
  cidr: 172.16.100.0/24
  ranges:
    - type: static
      start: 172.16.100.15
      end: 172.16.100.254
`;

/**
 * Writes a small site design into `dir` (as `site-design.yaml`) and
 * resolves it with `createDefaultRegistry({ file: { roots: [dir] } })`,
 * then tries two references that must be refused: a host in a `file:` URL
 * and a symlink leading out of `dir`.
 *
 * @param dir An existing directory the demo may write to.
 * @returns The resolved URI, its SHA-256 and size, and the refusals.
 */
export async function resolveDemoDesign(dir: string): Promise<DemoDesign> {
  const root = await Deno.realPath(dir);
  const path = `${root}/site-design.yaml`;
  await Deno.writeTextFile(path, SITE_DESIGN);
  // A link out of the root: to the directory above it, which always exists.
  await Deno.symlink(root.slice(0, root.lastIndexOf("/")) || "/", `${root}/escape.yaml`);
  const registry = createDefaultRegistry({ file: { roots: [root] } });
  const doc = await registry.resolve(`file://${path}`, { signal: AbortSignal.timeout(10_000) });
  const refused: { uri: string; code: string }[] = [];
  for (const uri of ["file://etc/passwd", `file://${root}/escape.yaml`]) {
    try {
      await registry.resolve(uri);
      throw new Error(`the demo expected ${uri} to be refused`);
    } catch (err) {
      if (!(err instanceof DesignReferenceError)) throw err;
      refused.push({ uri: err.uri, code: err.code });
    }
  }
  return { uri: doc.uri, sha256: doc.sha256, bytes: doc.bytes.length, refused };
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "demo_design_" });
  try {
    console.log(await resolveDemoDesign(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
