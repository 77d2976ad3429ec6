/**
 * Compiles a `logs grep` request into a matcher for the scanner.
 *
 * - Default: fixed-string search (`grep -F`). The pattern is data: it is
 *   searched for byte by byte and never reaches a shell or a RegExp unescaped.
 * - `ignoreCase` (`-i`): case-insensitive as GNU grep in a UTF-8 locale
 *   ({@link ./casefold.ts}). Searched as bytes with ASCII folding, once per
 *   case variant of the pattern's non-ASCII characters (`größe` gives
 *   `größe` and `grÖße`: `ß` has no other case in grep); lines holding a
 *   non-ASCII counterpart of an ASCII pattern character (`ſ` for `s`, `ı` for
 *   `i`) are checked with a RegExp. Over 16 variants: a RegExp over the chunk.
 * - `regex` (`-E`): the POSIX ERE subset documented in {@link ./ere.ts},
 *   validated and translated into a JavaScript RegExp.
 * - `count` (`-c`): per-file counts of matching lines instead of the lines.
 *
 * A pattern is at most 512 characters, must be well-formed Unicode and may
 * not contain a newline (grep would treat it as several patterns). An empty
 * pattern matches every line, as in grep.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { caseCounterparts } from "./casefold.ts";
import { MAX_PATTERN_LENGTH, rejectPattern } from "./ere.ts";
import {
  foldedLiteralRequired,
  foldedLiteralSource,
  type TranslatedEre,
  translateEre,
} from "./ere_emit.ts";

export { MAX_PATTERN_LENGTH } from "./ere.ts";

/** A grep request: the pattern and grep's `-i`, `-E` and `-c` switches. */
export interface GrepRequest {
  /** The pattern: a fixed string, or an ERE with `regex`. */
  pattern: string;
  /** `-i`: ignore case. */
  ignoreCase?: boolean;
  /** `-E`: the pattern is a POSIX extended regular expression (subset). */
  regex?: boolean;
  /** `-c`: count matching lines per file instead of returning them. */
  count?: boolean;
}

/** A fixed string searched as bytes. */
export interface BytesMatcher {
  /** Matcher kind. */
  kind: "bytes";
  /** UTF-8 of the pattern (ASCII lowercased when `fold`); under `-i`, one per case variant of its non-ASCII characters. */
  needles: Uint8Array[];
  /** ASCII case folding on. */
  fold: boolean;
  /** UTF-8 sequences that, when present in a chunk, send that chunk to `fallback`. */
  exotic: Uint8Array[];
  /** The exact (RegExp) matcher for chunks that hold an `exotic` sequence. */
  fallback: RegExp | null;
}

/** A RegExp (flags `gv`) run over whole chunks of text. */
export interface RegexMatcher {
  /** Matcher kind. */
  kind: "regex";
  /** The compiled expression; never matches across a newline. */
  re: RegExp;
  /** Bytes every matching line contains (ASCII-lowercase when `requiredFold`): chunks without them are skipped undecoded. */
  required: Uint8Array | null;
  /** `required` is compared with ASCII case folding. */
  requiredFold: boolean;
  /** The expression can run over bytes decoded as latin1 (faster, byte offsets = positions). */
  byteSafe: boolean;
}

/** A compiled request. */
export interface CompiledPattern {
  /** The request it came from (validated). */
  request: Required<GrepRequest>;
  /** How lines are matched. */
  matcher: BytesMatcher | RegexMatcher;
}

function flag(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") {
    throw new ElasticoreError("logs_bad_request", `grep option "${name}" must be a boolean`);
  }
  return v;
}

/** Validates the shape of a grep request (e.g. one decoded from the wire). */
export function validateGrepRequest(input: unknown): Required<GrepRequest> {
  if (typeof input !== "object" || input === null) {
    throw new ElasticoreError("logs_bad_request", "grep request must be an object");
  }
  const r = input as Record<string, unknown>;
  if (typeof r.pattern !== "string") {
    throw new ElasticoreError("logs_bad_request", 'grep request needs a string "pattern"');
  }
  return {
    pattern: r.pattern,
    ignoreCase: flag(r.ignoreCase, "ignoreCase"),
    regex: flag(r.regex, "regex"),
    count: flag(r.count, "count"),
  };
}

function compileRegExp(source: string): RegExp {
  try {
    return new RegExp(source, "gv");
  } catch (e) {
    throw rejectPattern(`not a valid expression (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Most case variants a `-i` fixed string may expand to before it is matched by a RegExp. */
const MAX_VARIANTS = 16;

/**
 * The spellings of a `-i` fixed string to search as ASCII-folded bytes: ASCII
 * characters lowercased, each non-ASCII character replaced by each of its case
 * equivalents. Null when there would be more than {@link MAX_VARIANTS}.
 */
function caseVariants(cps: number[]): string[] | null {
  let out = [""];
  for (const c of cps) {
    const lower = (d: number) => String.fromCodePoint(d >= 0x41 && d <= 0x5a ? d + 32 : d);
    const opts = c < 0x80 ? [lower(c)] : [...new Set([c, ...caseCounterparts(c)].map(lower))];
    if (out.length * opts.length > MAX_VARIANTS) return null;
    out = out.flatMap((prefix) => opts.map((o) => prefix + o));
  }
  return out;
}

function regexMatcher(t: TranslatedEre, fold: boolean): RegexMatcher {
  return {
    kind: "regex",
    re: compileRegExp(t.source),
    required: t.required === null ? null : new TextEncoder().encode(t.required),
    requiredFold: fold,
    byteSafe: t.byteSafe,
  };
}

/** Compiles a grep request; throws `ElasticoreError` (`logs_pattern_rejected`, `logs_bad_request`). */
export function compilePattern(input: GrepRequest | unknown): CompiledPattern {
  const request = validateGrepRequest(input);
  const { pattern, ignoreCase, regex } = request;
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw rejectPattern(`longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  if (!pattern.isWellFormed()) throw rejectPattern("not well-formed Unicode (lone surrogate)");
  if (pattern.includes("\n")) throw rejectPattern("contains a newline");
  if (regex) {
    return {
      request,
      matcher: regexMatcher(translateEre(pattern, ignoreCase), ignoreCase),
    };
  }
  const enc = new TextEncoder();
  if (!ignoreCase) {
    return {
      request,
      matcher: {
        kind: "bytes",
        needles: [enc.encode(pattern)],
        fold: false,
        exotic: [],
        fallback: null,
      },
    };
  }
  const cps = Array.from(pattern, (c) => c.codePointAt(0) as number);
  const variants = caseVariants(cps);
  if (variants === null) {
    const source = foldedLiteralSource(pattern);
    return {
      request,
      matcher: regexMatcher(
        { source, required: foldedLiteralRequired(pattern), byteSafe: false },
        true,
      ),
    };
  }
  const exotic = new Set<number>();
  for (const c of cps) {
    if (c < 0x80) { for (const d of caseCounterparts(c)) if (d >= 0x80) exotic.add(d); }
  }
  return {
    request,
    matcher: {
      kind: "bytes",
      needles: variants.map((v) => enc.encode(v)),
      fold: true,
      exotic: [...exotic].map((c) => enc.encode(String.fromCodePoint(c))),
      fallback: exotic.size > 0 ? compileRegExp(foldedLiteralSource(pattern)) : null,
    },
  };
}
