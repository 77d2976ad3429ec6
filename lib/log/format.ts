/**
 * Log record formats: JSON lines for files (what distributed log grep scans)
 * and a human-readable line for terminals.
 *
 * ## JSON line format (stable: tools parse it)
 *
 * One JSON object per line, UTF-8, `\n`-terminated, keys in this order:
 *
 * | key | value |
 * |---|---|
 * | `ts` | ISO 8601 UTC timestamp with milliseconds, e.g. `2025-01-02T03:04:05.678Z` |
 * | `level` | `trace`, `debug`, `info`, `warning`, `error` or `fatal` |
 * | `node` | the node id (`node.id`) |
 * | `subsystem` | second element of the category (`raft` for `["elasticore","raft"]`); other categories are joined with `.` |
 * | `msg` | the rendered message (placeholders substituted) |
 * | ... | the record's properties, each as its own key |
 *
 * A property whose name collides with one of the five fixed keys is written
 * with a `_` prefix (`_msg`). Property values are JSON; values JSON cannot
 * hold are converted: `bigint` to a decimal string, `Error` to
 * `{"name","message","stack"}`, `Uint8Array` to `{"bytes": length}`, cycles to
 * `"[circular]"`, functions and symbols to their string form, and nesting
 * deeper than 8 levels to `"[deep]"`.
 *
 * @module
 */
import type { LogRecord } from "@logtape/logtape";

const FIXED = new Set(["ts", "level", "node", "subsystem", "msg"]);
const MAX_DEPTH = 8;

/** Converts any value into something `JSON.stringify` renders faithfully. */
export function toJsonValue(v: unknown, depth = 0, seen: Set<object> = new Set()): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : String(v);
    case "bigint":
      return v.toString();
    case "undefined":
      return null;
    case "function":
    case "symbol":
      return String(v);
  }
  if (v === null) return null;
  const obj = v as object;
  if (seen.has(obj)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[deep]";
  if (obj instanceof Error) {
    return { name: obj.name, message: obj.message, stack: obj.stack ?? null };
  }
  if (obj instanceof Uint8Array) return { bytes: obj.byteLength };
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((x) => toJsonValue(x, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(obj)) {
      Object.defineProperty(out, k, {
        value: toJsonValue(x, depth + 1, seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}

/** The rendered message of a record: template parts with substituted values. */
export function renderMessage(record: LogRecord): string {
  let s = "";
  record.message.forEach((part, i) => {
    if (i % 2 === 0) s += String(part);
    else if (typeof part === "string") s += part;
    else if (part instanceof Error) s += part.message;
    else s += JSON.stringify(toJsonValue(part)) ?? "null";
  });
  return s;
}

/** The subsystem of a category: `raft` for `["elasticore", "raft"]`. */
export function subsystemOf(category: readonly string[]): string {
  return category[0] === "elasticore" && category.length > 1 ? category[1] : category.join(".");
}

/** Formats one record as a JSON line (with the trailing newline); see the module docs. */
export function formatJsonLine(record: LogRecord, node: string): string {
  const out: Record<string, unknown> = {
    ts: new Date(record.timestamp).toISOString(),
    level: record.level,
    node,
    subsystem: subsystemOf(record.category),
    msg: renderMessage(record),
  };
  for (const [k, v] of Object.entries(record.properties)) {
    let name = k;
    while (FIXED.has(name) || Object.hasOwn(out, name)) name = `_${name}`;
    Object.defineProperty(out, name, {
      value: toJsonValue(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return JSON.stringify(out) + "\n";
}

const LEVEL_TEXT: Record<string, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO ",
  warning: "WARN ",
  error: "ERROR",
  fatal: "FATAL",
};

const LEVEL_COLOR: Record<string, string> = {
  trace: "\x1b[90m",
  debug: "\x1b[36m",
  info: "\x1b[32m",
  warning: "\x1b[33m",
  error: "\x1b[31m",
  fatal: "\x1b[35m",
};

function propText(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(toJsonValue(v)) ?? "null";
}

/**
 * Formats one record for a terminal:
 * `12:34:56.789 INFO  raft  became leader term=3 commit=17`
 * (local time; level colored when `color`).
 */
export function formatConsoleLine(record: LogRecord, color: boolean): string {
  const d = new Date(record.timestamp);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${
    p(d.getMilliseconds(), 3)
  }`;
  const lvl = LEVEL_TEXT[record.level] ?? record.level.toUpperCase();
  const level = color ? `${LEVEL_COLOR[record.level] ?? ""}${lvl}\x1b[0m` : lvl;
  const sub = subsystemOf(record.category).padEnd(9);
  const props = Object.entries(record.properties).map(([k, v]) => ` ${k}=${propText(v)}`).join("");
  const dim = (s: string) => color ? `\x1b[2m${s}\x1b[0m` : s;
  return `${dim(time)} ${level} ${sub} ${renderMessage(record)}${props}\n`;
}
