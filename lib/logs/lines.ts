/**
 * Reading node log lines (the JSON-line format of `lib/log/format.ts`):
 * the `ts` of a line, levels and their order, a line as `logs tail` shows
 * it, and the `--since` time syntax.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { type LogsTailLine, MAX_TAIL_EXTRA_CHARS, MAX_TAIL_MSG_CHARS } from "../../proto/logs.ts";

/** Levels from least to most severe; `warn` (used by some writers) ranks as `warning`. */
export const LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

const RANK: Record<string, number> = {
  trace: 0,
  debug: 1,
  info: 2,
  warn: 3,
  warning: 3,
  error: 4,
  fatal: 5,
};

/** The severity rank of a level name (case-insensitive), or undefined when unknown. */
export function levelRank(level: string): number | undefined {
  return RANK[level.toLowerCase()];
}

/** Validates a `--level` filter; throws `logs_bad_level` naming the accepted levels. */
export function parseLevel(level: string): string {
  if (levelRank(level) === undefined) {
    throw new ElasticoreError("logs_bad_level", `unknown log level "${level}"`, {
      hint: `use one of ${LEVELS.join(", ")} (or warn)`,
    });
  }
  return level.toLowerCase();
}

const TS_PREFIX = /^\{"ts":"([^"\\]{1,64})"/;

function tsOf(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v !== "string") return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The time of a log line in epoch ms: its `ts` field (ISO 8601 or epoch ms),
 * or undefined when the line has none that parses.
 */
export function lineTs(text: string): number | undefined {
  const m = TS_PREFIX.exec(text);
  if (m) {
    const ms = Date.parse(m[1]);
    if (!Number.isNaN(ms)) return ms;
  }
  if (!text.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "object" && v !== null) return tsOf((v as Record<string, unknown>).ts);
  } catch {
    return undefined;
  }
  return undefined;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a `--since` value: an ISO 8601 time (`2026-11-21T09:00:00Z`), epoch
 * milliseconds (`1795251600000`), or a duration before `now` (`90s`, `15m`,
 * `2h`, `1d`, `500ms`). Throws `logs_bad_since`.
 */
export function parseSince(value: string, now: number = Date.now()): number {
  const v = value.trim();
  if (/^\d{1,16}$/.test(v)) return Number(v);
  const d = DURATION.exec(v);
  if (d) return Math.max(0, Math.round(now - Number(d[1]) * UNIT_MS[d[2]]));
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms) && ms >= 0) return ms;
  }
  throw new ElasticoreError("logs_bad_since", `cannot read "${value}" as a time`, {
    hint:
      "use an ISO 8601 time (2026-11-21T09:00:00Z), epoch ms, or a duration such as 15m, 2h, 1d",
  });
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "…";
}

const FIXED = new Set(["ts", "level", "node", "subsystem", "msg"]);

/**
 * A log line as tail shows it. A line that is not a JSON object becomes a
 * line with only `msg` (and `node` = `fallbackNode`); long messages are cut.
 */
export function toTailLine(text: string, fallbackNode: string): LogsTailLine {
  let obj: Record<string, unknown> | undefined;
  if (text.startsWith("{")) {
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) {
        obj = v as Record<string, unknown>;
      }
    } catch {
      obj = undefined;
    }
  }
  if (!obj) {
    return {
      ts: "",
      level: "",
      node: fallbackNode,
      subsystem: "",
      msg: cut(text, MAX_TAIL_MSG_CHARS),
    };
  }
  const s = (v: unknown, max: number) =>
    typeof v === "string" ? cut(v, max) : v === undefined ? "" : cut(JSON.stringify(v) ?? "", max);
  const ts = typeof obj.ts === "number" && Number.isFinite(obj.ts)
    ? new Date(obj.ts).toISOString()
    : s(obj.ts, 64);
  const node = s(obj.node, 128);
  const line: LogsTailLine = {
    ts,
    level: s(obj.level, 16),
    node: node === "" ? fallbackNode : node,
    subsystem: s(obj.subsystem, 64),
    msg: s(obj.msg, MAX_TAIL_MSG_CHARS),
  };
  const rest: Record<string, unknown> = {};
  let hasExtra = false;
  for (const [k, v] of Object.entries(obj)) {
    if (FIXED.has(k)) continue;
    Object.defineProperty(rest, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    hasExtra = true;
  }
  if (hasExtra) line.extra = cut(JSON.stringify(rest), MAX_TAIL_EXTRA_CHARS);
  return line;
}

/** Filters of tail lines. */
export interface TailFilter {
  /** Lowest level shown (a name accepted by {@link parseLevel}). */
  level?: string;
  /** Only these subsystems. */
  subsystems?: readonly string[];
}

/** Builds a predicate for {@link TailFilter}; lines of unknown level fail a level filter. */
export function tailPredicate(f: TailFilter): (l: LogsTailLine) => boolean {
  const min = f.level === undefined ? undefined : levelRank(parseLevel(f.level));
  const subs = f.subsystems && f.subsystems.length > 0 ? new Set(f.subsystems) : undefined;
  return (l) => {
    if (min !== undefined) {
      const r = levelRank(l.level);
      if (r === undefined || r < min) return false;
    }
    return subs === undefined || subs.has(l.subsystem);
  };
}
