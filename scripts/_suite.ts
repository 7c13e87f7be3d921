/**
 * Runs the test suite (`scripts/test.ts`) in a child process, echoing its
 * output, and reads its closing counts: the one way `compat` and
 * `pgbouncer` run a pass and report it.
 */

/** The exit code of a pass and the counts of its closing line, if it printed one. */
export interface SuiteResult {
  code: number;
  counts: { passed: number; failed: number; ignored: number } | null;
}

/**
 * Runs `scripts/test.ts` with `args`, `env` added to a colourless
 * environment, and returns its exit code and the counts of deno test's
 * closing line ("ok | 312 passed | 0 failed | 4 ignored (70s)").
 */
export async function runSuite(args: string[], env: Record<string, string>): Promise<SuiteResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./test.ts", import.meta.url).pathname, ...args],
    env: { ...env, NO_COLOR: "1" }, // no escape codes to strip from the closing line
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
  }
  const { code } = await child.status;
  const m = [
    ...tail.matchAll(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \| (\d+) ignored)?/g),
  ].pop();
  const counts = m ? { passed: +m[1], failed: +m[2], ignored: +(m[3] ?? 0) } : null;
  return { code, counts };
}
