/**
 * Turning strings from the environment and command-line flags into typed
 * config values, describing values in error messages, and suggesting the key
 * a user probably meant.
 *
 * @module
 */
import { ALL_KEYS, type ValueKind } from "./schema.ts";

/** The outcome of parsing a string for a key: a value, or why it is not one. */
export type ParsedValue = { ok: true; value: unknown } | { ok: false; expected: string };

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/**
 * Parses `text` as a value of `kind`: integers (`1500`, `1_000`), booleans
 * (`true|false|1|0|yes|no|on|off`), comma-separated lists (`a,b`; empty = `[]`)
 * and maps (`raft=debug,swim=info`). Strings are taken as they are.
 */
export function parseValue(kind: ValueKind, text: string): ParsedValue {
  const t = text.trim();
  switch (kind) {
    case "string":
      return { ok: true, value: text };
    case "int": {
      if (!/^[+-]?\d+(?:_\d+)*$/.test(t)) return { ok: false, expected: "an integer" };
      return { ok: true, value: Number(t.replaceAll("_", "")) };
    }
    case "bool": {
      const l = t.toLowerCase();
      if (TRUE.has(l)) return { ok: true, value: true };
      if (FALSE.has(l)) return { ok: true, value: false };
      return { ok: false, expected: "true or false" };
    }
    case "list":
      return { ok: true, value: t === "" ? [] : t.split(",").map((s) => s.trim()) };
    case "map": {
      const out: Record<string, string> = {};
      if (t === "") return { ok: true, value: out };
      for (const item of t.split(",")) {
        const eq = item.indexOf("=");
        const k = item.slice(0, eq).trim();
        if (eq < 0 || k === "") {
          return { ok: false, expected: 'comma-separated "name=value" pairs' };
        }
        Object.defineProperty(out, k, {
          value: item.slice(eq + 1).trim(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return { ok: true, value: out };
    }
  }
}

/** A short description of a value for an error message: `"abc"`, `-5`, `an array`. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date || (typeof v === "object" && v.constructor?.name === "TomlDate")) {
    return "a date";
  }
  if (typeof v === "object") return "a table";
  return typeof v;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest known `section.key` to `key`, when it is close enough to be a typo. */
export function suggestKey(
  key: string,
  candidates: readonly string[] = ALL_KEYS,
): string | undefined {
  if (key.length > 100) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(key, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(key.length / 5)) ? best : undefined;
}
