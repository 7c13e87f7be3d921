/**
 * The local record of what the database acknowledged: each workload child
 * appends one JSON line per acknowledged write (and per failed attempt and
 * elector event), written synchronously so that nothing acknowledged is
 * only in a buffer. The checker compares these files with the new primary.
 *
 * @module
 */

/** One line of a log. `t0`/`t1`: wall-clock ms when the call started and returned. */
export interface Entry {
  kind: string;
  t0: number;
  t1: number;
  [field: string]: unknown;
}

/** An open log. */
export interface AckLog {
  write(entry: Entry): void;
  close(): void;
}

/** Opens `path` for appending. */
export function openAckLog(path: string): AckLog {
  const file = Deno.openSync(path, { create: true, append: true });
  const enc = new TextEncoder();
  return {
    write(entry) {
      const bytes = enc.encode(JSON.stringify(entry) + "\n");
      let off = 0;
      while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
    },
    close() {
      file.close();
    },
  };
}

/** Reads every entry of every `*.jsonl` file in `dir`. */
export async function readAckLogs(dir: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  for await (const f of Deno.readDir(dir)) {
    if (!f.name.endsWith(".jsonl")) continue;
    const text = await Deno.readTextFile(`${dir}/${f.name}`);
    for (const line of text.split("\n")) if (line) entries.push(JSON.parse(line));
  }
  return entries;
}

/** A short description of an error for the log: its class, code and message. */
export function errorFields(err: unknown): Record<string, unknown> {
  const e = err as { name?: string; code?: string; message?: string };
  return {
    error: e?.name ?? typeof err,
    code: e?.code ?? null,
    message: String(e?.message ?? err),
  };
}
