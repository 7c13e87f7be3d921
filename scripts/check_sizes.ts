/**
 * `deno task check` calls this: fails when a file in `src/` grows past
 * 500 lines or a function past 60, so the house stays one room per concern
 * (issue 10). The generated migrations module and the elector, whose state
 * machine reads best in one file, are exempt from the file limit only.
 * Functions are found as `deno fmt` lays them out: a declaration line
 * (`function`, a method, or `const f = (…) => {`), its signature over
 * one line or several, and the first line after it that closes a brace
 * at the declaration's indentation.
 */
const MAX_FILE = 500;
const MAX_FUNCTION = 60;
const FILE_EXEMPT = new Set(["src/_migrations.ts", "src/leadership/elector.ts"]);

const START = new RegExp(
  String.raw`^(\s*)(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\*?\s+\w+|` +
    String.raw`(?<=^  )(?:(?:public|private|protected|static|get|set|async)\s+)*#?\w+\s*\(|` +
    String.raw`(?:const|let)\s+\w+\s*=\s*(?:async\s*)?(?:\([^)]*\)|\w+)\s*(?::[^=]+)?=>\s*\{$)`,
);

async function* files(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* files(path);
    else if (e.name.endsWith(".ts")) yield path;
  }
}

/** The functions of `lines` longer than {@linkcode MAX_FUNCTION}, as `name (n lines)`. */
function longFunctions(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = START.exec(lines[i]);
    if (!m || /^\s*(if|for|while|switch|catch|return)\b/.test(lines[i])) continue;
    const indent = m[1];
    // A signature over several lines closes with ")" at the declaration's
    // indentation; it declares a function only if that line opens a body.
    let end = i;
    if (lines[i].trimEnd().endsWith("(")) {
      while (end < lines.length && !lines[end].startsWith(`${indent})`)) end++;
    }
    if (!lines[end]?.trimEnd().endsWith("{")) continue;
    end++;
    while (end < lines.length && !new RegExp(`^${indent}}`).test(lines[end])) end++;
    const length = end - i + 1;
    if (length > MAX_FUNCTION) out.push(`line ${i + 1}: ${lines[i].trim()} (${length} lines)`);
  }
  return out;
}

const root = Deno.args[0] ?? "src";
const problems: string[] = [];
for await (const path of files(root)) {
  const lines = (await Deno.readTextFile(path)).split("\n");
  if (lines.length > MAX_FILE && !FILE_EXEMPT.has(path)) {
    problems.push(`${path}: ${lines.length} lines (at most ${MAX_FILE})`);
  }
  if (path === "src/_migrations.ts") continue;
  for (const f of longFunctions(lines)) problems.push(`${path}: ${f}`);
}
if (problems.length) {
  console.error(`files or functions too long:\n  ${problems.join("\n  ")}`);
  Deno.exit(1);
}
console.log(
  `every file in ${root}/ within ${MAX_FILE} lines, every function within ${MAX_FUNCTION}`,
);
