/**
 * Turns a parsed ERE ({@link ./ere.ts}) into a JavaScript RegExp (flags `gv`)
 * that matches exactly the lines GNU grep -E matches when run over a whole
 * chunk of text: nothing can match a newline (`.` and negated classes exclude
 * it), `^`/`$` are line anchors (also with CR-LF lines, as in grep), `-i`
 * folds case the way grep does ({@link ./casefold.ts}), and `\w`, `\b`, `\<`,
 * `\>` are Unicode-aware. Also checks the tree against patterns that backtrack
 * catastrophically.
 *
 * Non-ASCII POSIX classes follow Unicode properties (`[:alpha:]` is
 * `\p{Alphabetic}`, `[:punct:]` is `\p{P}\p{S}`, `[:upper:]` is `\p{Lu}`),
 * which can differ from glibc for rare characters.
 *
 * @module
 */
import { caseCounterparts, casedCodePoints } from "./casefold.ts";
import {
  type ClassNode,
  type EreNode,
  MAX_UNBOUNDED,
  parseEre,
  type PosixClass,
  rejectPattern,
} from "./ere.ts";

function esc(cp: number): string {
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) {
    return String.fromCodePoint(cp);
  }
  return `\\u{${cp.toString(16)}}`;
}

const WORD = "[\\p{Alphabetic}\\p{Nd}_]";
const SPACE = "\\u{9}\\u{b}-\\u{d}\\u{20}\\u{1680}\\u{2000}-\\u{2006}\\u{2008}-\\u{200a}" +
  "\\u{2028}\\u{2029}\\u{205f}\\u{3000}";

const ALNUM = "\\p{Alphabetic}\\p{Nd}";
/** Titlecase letters that glibc also counts as lowercase (they have an uppercase mapping). */
const LOWER_TITLE = "\\u{1c5}\\u{1c8}\\u{1cb}\\u{1f2}";

/**
 * Class items for a POSIX class, modelled on glibc's UTF-8 tables: non-ASCII
 * digits count as alpha; upper and lower include characters with a case
 * mapping, and under `-i` both mean alpha (as in glibc's regex); punct is every printable non-space, non-alnum character.
 */
function catItems(cat: PosixClass | "word", icase: boolean): string {
  switch (cat) {
    case "alpha":
      return `[[${ALNUM}]--[0-9]]`;
    case "digit":
      return "0-9";
    case "alnum":
      return ALNUM;
    case "word":
      return `${ALNUM}_`;
    case "upper":
      return icase ? `[[${ALNUM}]--[0-9]]` : `\\p{Uppercase}\\p{Lt}`;
    case "lower":
      return icase ? `[[${ALNUM}]--[0-9]]` : `\\p{Lowercase}${LOWER_TITLE}`;
    case "space":
      return SPACE;
    case "blank":
      return "\\u{9}\\u{20}\\u{1680}\\u{2000}-\\u{2006}\\u{2008}-\\u{200a}\\u{205f}\\u{3000}";
    case "punct":
      return `[\\P{C}--[${SPACE}]--[${ALNUM}]]`;
    case "print":
      return "\\P{C}";
    case "graph":
      return `[\\P{C}--[${SPACE}]]`;
    case "cntrl":
      return "\\u{0}-\\u{9}\\u{b}-\\u{1f}\\u{7f}-\\u{9f}";
    case "xdigit":
      return "0-9A-Fa-f";
  }
}

function lowerBound(list: readonly number[], x: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The class's ranges, plus every case counterpart of its members under `-i`. */
function foldedRanges(node: ClassNode, icase: boolean): Array<[number, number]> {
  if (!icase) return node.ranges;
  const out = node.ranges.slice();
  for (const [lo, hi] of node.ranges) {
    if (lo === hi) {
      for (const c of caseCounterparts(lo)) out.push([c, c]);
      continue;
    }
    const cased = casedCodePoints();
    for (let i = lowerBound(cased, lo); i < cased.length && cased[i] <= hi; i++) {
      for (const c of caseCounterparts(cased[i])) out.push([c, c]);
    }
  }
  return out;
}

function classSource(node: ClassNode, icase: boolean): string {
  const ranges = foldedRanges(node, icase);
  let items = ranges.map(([lo, hi]) => (lo === hi ? esc(lo) : `${esc(lo)}-${esc(hi)}`)).join("");
  items += node.cats.map((c) => catItems(c, icase)).join("");
  if (node.negated) return `[^${items}\\n]`;
  return ranges.some(([lo, hi]) => lo <= 10 && hi >= 10) ? `[[${items}]--\\n]` : `[${items}]`;
}

function litSource(cp: number, icase: boolean): string {
  const alts = icase ? caseCounterparts(cp) : [];
  return alts.length === 0 ? esc(cp) : `[${[cp, ...alts].map(esc).join("")}]`;
}

function nodeSource(node: EreNode, icase: boolean): string {
  switch (node.t) {
    case "lit":
      return litSource(node.cp, icase);
    case "any":
      return "[^\\n]";
    case "class":
      return classSource(node, icase);
    case "group":
      return `(?:${altsSource(node.alts, icase)})`;
    case "assert":
      switch (node.kind) {
        case "bol":
          return "(?<![^\\n])";
        case "eol":
          return "(?![^\\n])";
        case "wordb":
          return `(?:(?<=${WORD})(?!${WORD})|(?<!${WORD})(?=${WORD}))`;
        case "nwordb":
          return `(?:(?<=${WORD})(?=${WORD})|(?<!${WORD})(?!${WORD}))`;
        case "wstart":
          return `(?<!${WORD})(?=${WORD})`;
        case "wend":
          return `(?<=${WORD})(?!${WORD})`;
      }
      break;
    case "rep": {
      const inner = nodeSource(node.node, icase);
      const { min, max } = node;
      const q = min === 0 && max === Infinity
        ? "*"
        : min === 1 && max === Infinity
        ? "+"
        : min === 0 && max === 1
        ? "?"
        : max === Infinity
        ? `{${min},}`
        : min === max
        ? `{${min}}`
        : `{${min},${max}}`;
      return inner + q;
    }
  }
  return "";
}

function altsSource(alts: EreNode[][], icase: boolean): string {
  return alts.map((seq) => seq.map((n) => nodeSource(n, icase)).join("")).join("|");
}

// ---- catastrophic-backtracking check ----

type CharSet = { all: true } | { all: false; lits: number[] } | {
  all: false;
  cls: ClassNode;
};

function charSet(node: EreNode, icase: boolean): CharSet {
  if (node.t === "lit") {
    return { all: false, lits: [node.cp, ...(icase ? caseCounterparts(node.cp) : [])] };
  }
  if (node.t === "class") return { all: false, cls: node };
  return { all: true };
}

const classRegexCache = new Map<ClassNode, RegExp>();
function classRegex(cls: ClassNode, icase: boolean): RegExp {
  let re = classRegexCache.get(cls);
  if (!re) {
    re = new RegExp(`^${classSource(cls, icase)}$`, "v");
    classRegexCache.set(cls, re);
  }
  return re;
}

const SPACEY = new Set<string>(["space", "blank", "cntrl"]);
const INKY = new Set<string>([
  "alpha",
  "digit",
  "alnum",
  "upper",
  "lower",
  "word",
  "xdigit",
  "punct",
  "graph",
]);

function classMembers(cls: ClassNode, icase: boolean): number[] | null {
  let size = 0;
  const ranges = foldedRanges(cls, icase);
  for (const [lo, hi] of ranges) size += hi - lo + 1;
  if (size > 4096) return null;
  const out: number[] = [];
  for (const [lo, hi] of ranges) for (let c = lo; c <= hi; c++) out.push(c);
  return out;
}

function overlaps(a: CharSet, b: CharSet, icase: boolean): boolean {
  if (a.all || b.all) return true;
  if ("lits" in a && "lits" in b) return a.lits.some((c) => b.lits.includes(c));
  if ("lits" in a || "lits" in b) {
    const lits = "lits" in a ? a.lits : (b as { lits: number[] }).lits;
    const cls = "cls" in a ? a.cls : (b as { cls: ClassNode }).cls;
    const re = classRegex(cls, icase);
    return lits.some((c) => re.test(String.fromCodePoint(c)));
  }
  const x = (a as { cls: ClassNode }).cls;
  const y = (b as { cls: ClassNode }).cls;
  if (x.negated || y.negated) return true;
  const xs = classMembers(x, icase);
  const ys = classMembers(y, icase);
  if (xs === null || ys === null) return true;
  const rx = classRegex(x, icase);
  const ry = classRegex(y, icase);
  if (xs.some((c) => ry.test(String.fromCodePoint(c)))) return true;
  if (ys.some((c) => rx.test(String.fromCodePoint(c)))) return true;
  // Only the named classes are left to compare: blank-like against ink-like is disjoint.
  const disjoint = (p: ClassNode, q: ClassNode) =>
    p.cats.every((c) => SPACEY.has(c)) && q.cats.every((c) => INKY.has(c));
  if (x.cats.length === 0 || y.cats.length === 0) return false;
  return !(disjoint(x, y) || disjoint(y, x));
}

function nullable(node: EreNode): boolean {
  if (node.t === "assert") return true;
  if (node.t === "rep") return node.min === 0 || nullable(node.node);
  if (node.t === "group") return node.alts.some((seq) => seq.every(nullable));
  return false;
}

function containsRep(alts: EreNode[][]): boolean {
  return alts.some((seq) =>
    seq.some((n) => n.t === "rep" || (n.t === "group" && containsRep(n.alts)))
  );
}

/** Alternatives under a quantifier must start with distinct literal characters, recursively. */
function checkRepeatedAlts(alts: EreNode[][], icase: boolean): void {
  if (alts.length > 1) {
    const firsts = alts.map((seq) => (seq[0]?.t === "lit" ? charSet(seq[0], icase) : null));
    for (let a = 0; a < firsts.length; a++) {
      const fa = firsts[a];
      if (fa === null) {
        throw rejectPattern(
          "alternatives inside a repeated group must each start with a literal character",
        );
      }
      for (let b = a + 1; b < firsts.length; b++) {
        const fb = firsts[b];
        if (fb && overlaps(fa, fb, icase)) {
          throw rejectPattern("alternatives inside a repeated group start with the same character");
        }
      }
    }
  }
  for (const seq of alts) {
    for (const n of seq) if (n.t === "group") checkRepeatedAlts(n.alts, icase);
  }
}

function checkSeq(seq: EreNode[], icase: boolean, counter: { unbounded: number }): void {
  for (let i = 0; i < seq.length; i++) {
    const n = seq[i];
    if (n.t === "group") checkAlts(n.alts, icase, counter);
    if (n.t !== "rep") continue;
    if (n.max === Infinity && ++counter.unbounded > MAX_UNBOUNDED) {
      throw rejectPattern(`more than ${MAX_UNBOUNDED} unbounded quantifiers`);
    }
    if (n.node.t === "group") {
      if (containsRep(n.node.alts)) throw rejectPattern("nested quantifier (e.g. (a+)+)");
      checkRepeatedAlts(n.node.alts, icase);
      checkAlts(n.node.alts, icase, counter);
    }
    if (n.min === n.max) continue; // a fixed count is not ambiguous
    const here = charSet(n.node, icase);
    for (let j = i + 1; j < seq.length; j++) {
      const m = seq[j];
      if (m.t === "rep" && m.min !== m.max && overlaps(here, charSet(m.node, icase), icase)) {
        throw rejectPattern(
          "two adjacent repeated parts can match the same characters (e.g. .*.*)",
        );
      }
      if (!nullable(m)) break;
    }
  }
}

function checkAlts(alts: EreNode[][], icase: boolean, counter: { unbounded: number }): void {
  for (const seq of alts) checkSeq(seq, icase, counter);
}

/** A translated ERE: RegExp source plus a literal every match contains (for prefiltering). */
export interface TranslatedEre {
  /** Source for `new RegExp(source, "gv")`. */
  source: string;
  /** A string every matching line contains (ASCII-folded under `-i`), or null. */
  required: string | null;
  /** Matches the same lines when run over text decoded byte-per-character (latin1). */
  byteSafe: boolean;
}

const ASCII_CATS = new Set<string>(["digit", "xdigit"]);

function asciiOnly(cp: number, icase: boolean): boolean {
  return cp < 0x80 && (!icase || caseCounterparts(cp).every((c) => c < 0x80));
}

/**
 * True when the tree matches a line's UTF-8 bytes (one character per byte)
 * exactly when it matches the line's characters: every literal and positive
 * class is ASCII (so it only matches whole ASCII characters), and `.` and
 * negated classes appear only under `*`, `+`, `{0,}` or `{1,}`, where a run of
 * characters and the run of their bytes are interchangeable.
 */
function byteSafe(node: EreNode, icase: boolean, underStar: boolean): boolean {
  switch (node.t) {
    case "lit":
      return asciiOnly(node.cp, icase);
    case "any":
      return underStar;
    case "class":
      return (underStar || !node.negated) && node.cats.every((c) => ASCII_CATS.has(c)) &&
        foldedRanges(node, icase).every(([, hi]) => hi < 0x80);
    case "group":
      return node.alts.every((seq) => seq.every((n) => byteSafe(n, icase, false)));
    case "assert":
      return node.kind === "bol" || node.kind === "eol";
    case "rep":
      return byteSafe(node.node, icase, node.max === Infinity && node.min <= 1);
  }
}

/** Usable in a byte prefilter: exact, or under `-i` ASCII with only ASCII counterparts. */
function prefilterable(cp: number, icase: boolean): boolean {
  if (cp === 10) return false;
  return !icase || (cp < 0x80 && caseCounterparts(cp).every((c) => c < 0x80));
}

/** The longest run of literals every match of `alts` must contain (at least 2 characters). */
function requiredOf(alts: EreNode[][], icase: boolean): string | null {
  if (alts.length !== 1) return null;
  let best = "";
  let run = "";
  const close = () => {
    if (run.length > best.length) best = run;
    run = "";
  };
  for (const n of alts[0]) {
    if (n.t === "lit" && prefilterable(n.cp, icase)) {
      run += String.fromCodePoint(n.cp);
    } else if (
      n.t === "rep" && n.min >= 1 && n.node.t === "lit" && prefilterable(n.node.cp, icase)
    ) {
      run += String.fromCodePoint(n.node.cp);
      close();
    } else if (n.t !== "assert") {
      close();
    }
  }
  close();
  if (best.length < 2) return null;
  return icase ? best.toLowerCase() : best;
}

/**
 * Validates an ERE and returns the JavaScript RegExp source equivalent to it
 * (to be compiled with flags `gv`). Throws `logs_pattern_rejected`.
 */
export function translateEre(pattern: string, ignoreCase: boolean): TranslatedEre {
  const alts = parseEre(pattern);
  checkAlts(alts, ignoreCase, { unbounded: 0 });
  return {
    source: altsSource(alts, ignoreCase),
    required: requiredOf(alts, ignoreCase),
    byteSafe: alts.every((seq) => seq.every((n) => byteSafe(n, ignoreCase, false))),
  };
}

/** A case-insensitive fixed string as RegExp source (each character becomes its case class). */
export function foldedLiteralSource(pattern: string): string {
  return Array.from(pattern, (c) => litSource(c.codePointAt(0) as number, true)).join("");
}

/** The longest run of a `-i` fixed string usable as an ASCII-folded byte prefilter, or null. */
export function foldedLiteralRequired(pattern: string): string | null {
  return requiredOf(
    [Array.from(pattern, (c) => ({ t: "lit", cp: c.codePointAt(0) as number }))],
    true,
  );
}
