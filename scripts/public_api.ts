/**
 * The public API as a committed list, so that a name leaving, changing kind
 * or arriving in an entry point is a decision someone makes on purpose, not
 * a side effect of moving code between files. tests/public_api_test.ts holds
 * the working tree to tests/public_api.json.
 *
 *   deno run --allow-run --allow-read --allow-write scripts/public_api.ts --update
 *       rewrite tests/public_api.json from the entry points in deno.json
 *   deno run --allow-run --allow-read scripts/public_api.ts --check
 *       print each difference and exit 1 if there is one (CI)
 *   --root DIR   read deno.json and the entry points from another checkout
 *
 * Each entry is "name: kind", the kind as `deno doc` says it (function,
 * class, interface, typeAlias, variable, enum, namespace). A const and a type
 * sharing a name (`TaskStatus`) are two entries.
 *
 * @module
 */

/** Per entry point ("." , "./embedded"), its sorted "name: kind" entries. */
export type PublicApi = Record<string, string[]>;

/** The committed list, beside the tests. */
export const LIST = new URL("../tests/public_api.json", import.meta.url);

/** The root of this checkout. */
const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

// The part of `deno doc --json` (output version 2) read here.
interface DocJson {
  version: number;
  nodes: Record<string, {
    symbols: { name: string; declarations: { kind: string; declarationKind: string }[] }[];
  }>;
}

/**
 * Runs `deno doc --json` on each entry point in `root`'s deno.json.
 *
 * @param root The directory holding deno.json; this checkout by default.
 * @returns Each entry point's exported names with their kinds, sorted.
 */
export async function publicApi(root: string = ROOT): Promise<PublicApi> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  const exports: Record<string, string> = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports;
  const api: PublicApi = {};
  for (const [entry, path] of Object.entries(exports).sort(([a], [b]) => a < b ? -1 : 1)) {
    api[entry] = await exportedNames(root, path);
  }
  return api;
}

async function exportedNames(root: string, path: string): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", path],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno doc --json ${path} exited ${code}: ${new TextDecoder().decode(stderr)}`);
  }
  const doc: DocJson = JSON.parse(new TextDecoder().decode(stdout));
  if (doc.version !== 2) throw new Error(`deno doc --json: output version ${doc.version}, not 2`);
  const entries = new Set<string>();
  for (const node of Object.values(doc.nodes)) {
    for (const symbol of node.symbols) {
      const declared = symbol.declarations.filter((d) => d.declarationKind !== "private");
      // A "reference" is a re-export of a declaration listed beside it
      // (elector.ts re-exports lease.ts's `Lease`); it is no kind of its own.
      const kinds = declared.map((d) => d.kind).filter((kind) => kind !== "reference");
      for (const kind of kinds.length ? kinds : declared.map((d) => d.kind)) {
        entries.add(`${symbol.name}: ${kind}`);
      }
    }
  }
  return [...entries].sort();
}

/**
 * Compares two lists name by name.
 *
 * @param expected The committed list.
 * @param actual The list of the working tree.
 * @returns One line per name that disappeared, changed kind or appeared; empty when equal.
 */
export function diffPublicApi(expected: PublicApi, actual: PublicApi): string[] {
  const lines: string[] = [];
  for (const entry of [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort()) {
    if (!(entry in actual)) lines.push(`entry point "${entry}" disappeared`);
    if (!(entry in expected)) lines.push(`entry point "${entry}" appeared`);
    const was = byName(expected[entry] ?? []);
    const now = byName(actual[entry] ?? []);
    for (const name of [...new Set([...was.keys(), ...now.keys()])].sort()) {
      const before = was.get(name)?.join(", ");
      const after = now.get(name)?.join(", ");
      if (before === after) continue;
      if (after === undefined) lines.push(`"${entry}": ${name} (${before}) disappeared`);
      else if (before === undefined) lines.push(`"${entry}": ${name} (${after}) appeared`);
      else lines.push(`"${entry}": ${name} changed kind: ${before} → ${after}`);
    }
  }
  return lines;
}

function byName(entries: string[]): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const entry of entries) {
    const [name, kind] = entry.split(": ");
    names.set(name, [...names.get(name) ?? [], kind].sort());
  }
  return names;
}

/** Reads the committed list. */
export async function readList(): Promise<PublicApi> {
  return JSON.parse(await Deno.readTextFile(LIST));
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--root");
  const root = at >= 0 ? Deno.args[at + 1] : ROOT;
  const actual = await publicApi(root);
  if (Deno.args.includes("--update")) {
    await Deno.writeTextFile(LIST, JSON.stringify(actual, null, 2) + "\n");
    const counts = Object.entries(actual).map(([entry, names]) => `"${entry}" ${names.length}`);
    console.log(`tests/public_api.json: ${counts.join(", ")} names`);
  } else if (Deno.args.includes("--check")) {
    const lines = diffPublicApi(await readList(), actual);
    if (lines.length) {
      console.error(`public API differs from tests/public_api.json:\n  ${lines.join("\n  ")}`);
      console.error(
        "if intended: deno run --allow-run --allow-read --allow-write " +
          "scripts/public_api.ts --update",
      );
      Deno.exit(1);
    }
    console.log("public API matches tests/public_api.json");
  } else {
    console.error("usage: scripts/public_api.ts --update | --check [--root DIR]");
    Deno.exit(2);
  }
}
