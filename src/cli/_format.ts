/**
 * Text output of the CLI: aligned tables, durations both ways, times and
 * JSON. Pure functions, no I/O.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration such as `10m`, `30s`, `2h`, `1h30m`, `500ms` or `1d`
 * into milliseconds; a bare number is seconds.
 *
 * @param text The duration.
 * @returns Milliseconds, or `null` when `text` is not a positive duration.
 *
 * @example Usage
 * ```ts
 * import { parseDuration } from "./_format.ts";
 * console.log(parseDuration("1h30m")); // 5400000
 * ```
 */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) > 0 ? Math.round(Number(t) * 1000) : null;
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== t) return null;
  const ms = parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNITS[unit], 0);
  return ms > 0 ? Math.round(ms) : null;
}

/**
 * Formats milliseconds the way {@linkcode parseDuration} reads them, with
 * at most two units: `1h30m`, `45s`, `250ms`.
 *
 * @param ms A duration in milliseconds (negative values are formatted as positive).
 * @returns The duration, e.g. `"2m5s"`.
 *
 * @example Usage
 * ```ts
 * import { formatDuration } from "./_format.ts";
 * console.log(formatDuration(125_000)); // "2m5s"
 * ```
 */
export function formatDuration(ms: number): string {
  let rest = Math.abs(Math.round(ms));
  if (rest < 1000) return `${rest}ms`;
  const out: string[] = [];
  for (const unit of ["d", "h", "m", "s"]) {
    const n = Math.floor(rest / UNITS[unit]);
    rest -= n * UNITS[unit];
    if (n > 0 || out.length > 0) out.push(`${n}${unit}`);
    if (out.length === 2) break;
  }
  return out.filter((p) => !p.startsWith("0")).join("") || "0s";
}

/**
 * A time as operators read it: UTC, to the second, `2026-12-01 23:14:05Z`.
 *
 * @param d The time, or `null`.
 * @returns The text, or `"-"` for `null`.
 *
 * @example Usage
 * ```ts
 * import { formatTime } from "./_format.ts";
 * console.log(formatTime(new Date(0))); // "1970-01-01 00:00:00Z"
 * ```
 */
export function formatTime(d: Date | null | undefined): string {
  if (!d) return "-";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/**
 * Lays rows out in columns separated by two spaces, the header first;
 * the last column is not padded.
 *
 * @param header The column names, or `null` for none.
 * @param rows The cells, one array per row.
 * @returns The lines of the table.
 *
 * @example Usage
 * ```ts
 * import { table } from "./_format.ts";
 * console.log(table(["ID", "STATUS"], [["1", "queued"]]).join("\n"));
 * ```
 */
export function table(header: string[] | null, rows: string[][]): string[] {
  const all = header ? [header, ...rows] : rows;
  const columns = Math.max(0, ...all.map((r) => r.length));
  const widths = Array.from(
    { length: columns },
    (_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)),
  );
  return all.map((r) =>
    r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd()
  );
}

/**
 * JSON for scripts: two-space indent, `Date` as ISO text, `Uint8Array` as hex.
 *
 * @param value Any value.
 * @returns The JSON text.
 *
 * @example Usage
 * ```ts
 * import { toJson } from "./_format.ts";
 * console.log(toJson({ at: new Date(0) }));
 * ```
 */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      v instanceof Uint8Array ? [...v].map((b) => b.toString(16).padStart(2, "0")).join("") : v,
    2,
  );
}

/**
 * Shortens text to `max` characters, ending with `…` when cut; newlines become spaces.
 *
 * @param text The text.
 * @param max The width.
 * @returns The shortened text.
 *
 * @example Usage
 * ```ts
 * import { clip } from "./_format.ts";
 * console.log(clip("a long message", 6)); // "a lon…"
 * ```
 */
export function clip(text: string, max: number): string {
  const one = text.replace(/\s*\n\s*/g, " ");
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}
