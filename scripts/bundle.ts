/**
 * `deno run -A scripts/bundle.ts [--out DIR]`: bundles the core (`mod.ts`)
 * and the CLI (`src/cli/mod.ts`) into plain ESM, as JSR's npm layer serves
 * them to Node and Bun: `postgres` and `zod` stay external npm
 * dependencies (versions from deno.json), installed beside the bundle with
 * npm. The smoke suite (tests/runtime/smoke.mjs) imports the result.
 *
 * Output (default `node_modules/.cache/statemgmt-npm/`, ignored by git):
 * `mod.js`, `src/cli/mod.js`, shared chunks, `package.json`, `deps.js`
 * (re-exports `postgres` for the smoke suite) and `node_modules/`.
 */
import { parseArgs } from "node:util";

const ROOT = new URL("..", import.meta.url).pathname;
const EXTERNAL = ["postgres", "zod"];

/** The npm versions deno.json pins for the external packages. */
async function externalVersions(): Promise<Record<string, string>> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const out: Record<string, string> = {};
  for (const name of EXTERNAL) {
    const spec: string = config.imports[name];
    const m = /^npm:(.+)@([^@]+)$/.exec(spec);
    if (!m) throw new Error(`deno.json imports.${name} is not an npm: specifier: ${spec}`);
    out[name] = m[2];
  }
  return out;
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${code}`);
}

/** Counts `Deno.` references left in the bundle: each is a call Node and Bun lack. */
async function denoReferences(dir: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".js")) continue;
    const text = await Deno.readTextFile(`${dir}/${entry.name}`);
    for (const [ref] of text.matchAll(/\bDeno\.[A-Za-z.]+/g)) {
      found.set(ref, (found.get(ref) ?? 0) + 1);
    }
  }
  return found;
}

async function bundle(out: string): Promise<void> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  await run(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--format=esm",
    "--platform=deno",
    "--code-splitting",
    ...EXTERNAL.map((e) => `--external=${e}`),
    `--outdir=${out}`,
    "mod.ts",
    "src/cli/mod.ts",
  ], ROOT);
  const pkg = {
    name: "@jsr/drydock__statemgmt",
    private: true,
    type: "module",
    exports: { ".": "./mod.js", "./cli": "./src/cli/mod.js" },
    dependencies: await externalVersions(),
  };
  await Deno.writeTextFile(`${out}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
  await Deno.writeTextFile(`${out}/deps.js`, 'export { default as postgres } from "postgres";\n');
  await run("npm", ["install", "--no-audit", "--no-fund", "--silent"], out);
  const refs = await denoReferences(out);
  const list = [...refs].map(([ref, n]) => `${ref} ×${n}`).join(", ");
  console.log(`bundle: ${out} (${refs.size ? `Deno-only references: ${list}` : "no Deno.* left"})`);
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { out: { type: "string" } } });
  await bundle(values.out ?? `${ROOT}node_modules/.cache/statemgmt-npm`);
}
