/**
 * Imports run one way (DESIGN.md): the core knows no domain, and the design
 * registry and its resolvers do not import each other. A cycle creeps in
 * quietly — often through an `import type` — so CI looks for them:
 *
 *   deno run --allow-read --allow-run scripts/check_cycles.ts [--root DIR]
 *
 * It runs `deno info --json` on each entry point in deno.json and on every
 * `.ts` file under src/ not yet seen (so files no entry point reaches are
 * covered too), keeps the edges between files under src/ (type-only imports
 * included; npm:, node: and files outside src/ ignored), and finds the
 * strongly connected components (Tarjan). Each component of more than one
 * file, or a file importing itself, is printed as its shortest cycles, and
 * the script exits 1.
 *
 * @module
 */

// The part of `deno info --json` read here.
interface InfoJson {
  modules: {
    specifier: string;
    error?: string;
    dependencies?: {
      specifier: string;
      code?: { specifier: string };
      type?: { specifier: string };
    }[];
  }[];
}

/** For each file, the files it imports, each marked whether only types are imported. */
type Graph = Map<string, Map<string, { typeOnly: boolean }>>;

async function listTs(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await listTs(path));
    else if (entry.isFile && /\.(ts|tsx|mts)$/.test(entry.name)) files.push(path);
  }
  return files.sort();
}

async function entryPoints(root: string): Promise<string[]> {
  try {
    const { exports } = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
    if (typeof exports === "string") return [exports];
    return Object.values(exports ?? {}) as string[];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

async function info(root: string, path: string): Promise<InfoJson> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno info --json ${path} exited ${code}: ${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** The import graph among the files under `${root}/src/`, keyed by path relative to root. */
async function buildGraph(root: string, files: string[]): Promise<Graph> {
  const src = new URL("src/", `file://${root.replace(/\/?$/, "/")}`).href;
  const local = (specifier: string) =>
    specifier.startsWith(src) ? `src/${decodeURIComponent(specifier.slice(src.length))}` : null;
  const graph: Graph = new Map(files.map((file) => [file, new Map()]));
  const seen = new Set<string>();
  for (const path of [...await entryPoints(root), ...files]) {
    const relative = path.replace(/^\.\//, "");
    if (seen.has(relative)) continue;
    for (const module of (await info(root, relative)).modules) {
      const from = local(module.specifier);
      if (from === null || seen.has(from)) continue;
      seen.add(from);
      if (module.error) console.error(`warning: ${from}: ${module.error}`);
      const edges = graph.get(from) ?? new Map();
      graph.set(from, edges);
      for (const dep of module.dependencies ?? []) {
        const code = dep.code && local(dep.code.specifier);
        const type = dep.type && local(dep.type.specifier);
        if (code) edges.set(code, { typeOnly: false });
        if (type && type !== code && !edges.has(type)) edges.set(type, { typeOnly: true });
      }
    }
  }
  return graph;
}

/** Tarjan's strongly connected components, each sorted. */
function components(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** The shortest cycle that starts with the import `from` → `to`, within `members`. */
function cycleThrough(graph: Graph, from: string, to: string, members: Set<string>): string[] {
  const previous = new Map<string, string>([[to, to]]);
  const queue = [to];
  while (queue.length) {
    const v = queue.shift()!;
    if (v === from) {
      const path: string[] = [];
      for (let u = v; u !== to; u = previous.get(u)!) path.unshift(u);
      return [from, to, ...path];
    }
    for (const w of [...graph.get(v)!.keys()].sort()) {
      if (members.has(w) && !previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  throw new Error(`${from} → ${to} is in no cycle`);
}

/** "a.ts → b.ts → a.ts", naming the edges that import only types. */
function describe(graph: Graph, cycle: string[]): string {
  const typeOnly: string[] = [];
  for (let i = 1; i < cycle.length; i++) {
    if (graph.get(cycle[i - 1])!.get(cycle[i])!.typeOnly) {
      typeOnly.push(`${cycle[i - 1]} → ${cycle[i]}`);
    }
  }
  const chain = cycle.join(" → ");
  return typeOnly.length ? `${chain}   (type-only: ${typeOnly.join(", ")})` : chain;
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--root");
  const root = at >= 0
    ? Deno.args[at + 1]
    : decodeURIComponent(new URL("..", import.meta.url).pathname);
  const files = (await listTs(`${root.replace(/\/$/, "")}/src`))
    .map((path) => path.slice(root.replace(/\/$/, "").length + 1));
  const graph = await buildGraph(root, files);
  const cyclic = components(graph)
    .filter((c) => c.length > 1 || graph.get(c[0])!.has(c[0]));
  if (cyclic.length === 0) {
    console.log(`no import cycles among ${files.length} files in src/`);
    Deno.exit(0);
  }
  console.error(`import cycles among ${files.length} files in src/:`);
  for (const component of cyclic) {
    const members = new Set(component);
    const cycles = new Map<string, string[]>();
    // Every import inside the component lies on one of these cycles.
    for (const from of component) {
      for (const to of [...graph.get(from)!.keys()].sort()) {
        if (!members.has(to)) continue;
        const cycle = cycleThrough(graph, from, to, members);
        // One entry per cycle, whichever of its imports it was found from.
        const body = cycle.slice(1);
        const first = body.indexOf([...body].sort()[0]);
        const key = [...body.slice(first), ...body.slice(0, first)].join(" ");
        if (!cycles.has(key)) cycles.set(key, cycle);
      }
    }
    console.error(`\n  ${component.length} file(s): ${component.join(", ")}`);
    for (const cycle of cycles.values()) console.error(`    ${describe(graph, cycle)}`);
  }
  Deno.exit(1);
}
