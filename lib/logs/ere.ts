/**
 * Parser for the POSIX ERE subset `logs grep -E` accepts, with a safety
 * check against catastrophic backtracking. {@link ./ere_emit.ts} turns the
 * tree into a JavaScript RegExp source.
 *
 * Accepted syntax (GNU grep -E semantics, one line at a time):
 * - literal characters; `\` before any punctuation character makes it literal
 * - `.` (any character except newline), `^` and `$` (line start and end, anywhere)
 * - bracket expressions `[abc]`, `[^a-z]`, `]` first is literal, `-` first or
 *   last is literal, `\` inside brackets is literal, and the classes
 *   `[:alpha:]` `[:digit:]` `[:alnum:]` `[:upper:]` `[:lower:]` `[:space:]`
 *   `[:blank:]` `[:punct:]` `[:print:]` `[:graph:]` `[:cntrl:]` `[:xdigit:]`
 * - groups `( )`, alternation `|`, quantifiers `*` `+` `?` `{n}` `{n,}` `{,m}`
 *   `{n,m}` (bounds up to 255); after an atom, a `{` that does not start a valid
 *   interval is literal (`x{` matches "x{"); write `\{` for a brace anywhere else
 * - GNU escapes `\w` `\W` `\s` `\S` `\b` `\B` `\<` `\>` `` \` `` `\'`
 *
 * Rejected with `logs_pattern_rejected`: back-references (`\1`), lookarounds
 * and other `(?` syntax, escapes of letters or digits not listed above (`\d`:
 * use `[0-9]`), equivalence classes `[=a=]` and collating symbols `[.a.]`, a
 * quantifier with nothing to repeat or applied to another quantifier (`a**`,
 * `a+?`), unbalanced parentheses or brackets, reversed ranges, patterns over
 * 512 characters, a `{` with nothing before it, and constructs that can backtrack catastrophically: a
 * quantified group that contains a quantifier (`(a+)+`), a quantified group
 * whose alternatives may begin with the same character (`(a|ab)*`; allowed:
 * `(GET|PUT)+`), two quantified atoms in a row (ignoring empty-matching parts
 * between them) that can match the same character (`.*.*`, `a?a?`, `\w+\w*`;
 * a fixed count such as `x{2}` is not ambiguous and allowed),
 * and more than 4 unbounded quantifiers (`*`, `+`, `{n,}`) in one pattern.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";

/** Longest accepted pattern, in characters. */
export const MAX_PATTERN_LENGTH = 512;
/** Largest accepted repetition bound in `{n,m}`. */
export const MAX_REPEAT = 255;
/** Most unbounded quantifiers (`*`, `+`, `{n,}`) one pattern may hold. */
export const MAX_UNBOUNDED = 4;

/** POSIX character class names accepted inside brackets. */
export const POSIX_CLASSES = [
  "alpha",
  "digit",
  "alnum",
  "upper",
  "lower",
  "space",
  "blank",
  "punct",
  "print",
  "graph",
  "cntrl",
  "xdigit",
] as const;
/** One POSIX class name. */
export type PosixClass = typeof POSIX_CLASSES[number];

/** A bracket expression: code point ranges plus named classes, maybe negated. */
export interface ClassNode {
  /** Node tag. */
  t: "class";
  /** `[^...]`. */
  negated: boolean;
  /** Inclusive code point ranges. */
  ranges: Array<[number, number]>;
  /** Named classes (`word` is `\w`). */
  cats: Array<PosixClass | "word">;
}

/** Node of a parsed ERE. */
export type EreNode =
  | { t: "lit"; cp: number }
  | { t: "any" }
  | ClassNode
  | { t: "group"; alts: EreNode[][] }
  | { t: "assert"; kind: "bol" | "eol" | "wordb" | "nwordb" | "wstart" | "wend" }
  | { t: "rep"; node: EreNode; min: number; max: number };

/** The rejection every invalid or unsafe pattern raises. */
export function rejectPattern(why: string): ElasticoreError {
  return new ElasticoreError("logs_pattern_rejected", `pattern rejected: ${why}`, {
    hint: "use a fixed string (no -E) or a simpler regular expression",
  });
}

class Parser {
  readonly cps: number[];
  pos = 0;
  constructor(pattern: string) {
    this.cps = Array.from(pattern, (c) => c.codePointAt(0) as number);
  }
  peek(k = 0): number | undefined {
    return this.cps[this.pos + k];
  }
  ch(k = 0): string {
    const c = this.peek(k);
    return c === undefined ? "" : String.fromCodePoint(c);
  }

  parseAlts(depth: number): EreNode[][] {
    const alts: EreNode[][] = [this.parseSeq(depth)];
    while (this.ch() === "|") {
      this.pos++;
      alts.push(this.parseSeq(depth));
    }
    return alts;
  }

  parseSeq(depth: number): EreNode[] {
    const seq: EreNode[] = [];
    while (this.pos < this.cps.length) {
      const c = this.ch();
      if (c === "|" || c === ")") {
        if (c === ")" && depth === 0) throw rejectPattern(`unmatched ")" at ${this.pos + 1}`);
        break;
      }
      const prev = seq[seq.length - 1];
      const atom = this.parseAtom(
        depth,
        prev !== undefined && prev.t !== "assert" && prev.t !== "rep",
      );
      seq.push(this.parseQuantifiers(atom));
    }
    return seq;
  }

  /** One atom; `afterAtom` tells whether a plain atom precedes it (a lone `{` is then literal). */
  parseAtom(depth: number, afterAtom: boolean): EreNode {
    const at = this.pos + 1;
    const c = this.ch();
    this.pos++;
    switch (c) {
      case "(": {
        if (this.ch() === "?") throw rejectPattern(`"(?" syntax (lookaround, flags) at ${at}`);
        if (depth >= 32) throw rejectPattern("groups nested deeper than 32");
        const alts = this.parseAlts(depth + 1);
        if (this.ch() !== ")") throw rejectPattern(`unmatched "(" at ${at}`);
        this.pos++;
        return { t: "group", alts };
      }
      case "[":
        return this.parseBracket(at);
      case ".":
        return { t: "any" };
      case "^":
        return { t: "assert", kind: "bol" };
      case "$":
        return { t: "assert", kind: "eol" };
      case "*":
      case "+":
      case "?":
        throw rejectPattern(`quantifier "${c}" at ${at} has nothing to repeat`);
      case "\\":
        return this.parseEscape(at);
      case "{":
        if (afterAtom) return { t: "lit", cp: 0x7b };
        throw rejectPattern(`"{" at ${at} has nothing to repeat (write "\\{" for a literal brace)`);
      default:
        return { t: "lit", cp: this.cps[this.pos - 1] };
    }
  }

  parseEscape(at: number): EreNode {
    const e = this.ch();
    if (e === "") throw rejectPattern("trailing backslash");
    this.pos++;
    if (e >= "1" && e <= "9") throw rejectPattern(`back-reference "\\${e}" at ${at}`);
    switch (e) {
      case "w":
        return { t: "class", negated: false, ranges: [], cats: ["word"] };
      case "W":
        return { t: "class", negated: true, ranges: [], cats: ["word"] };
      case "s":
        return { t: "class", negated: false, ranges: [], cats: ["space"] };
      case "S":
        return { t: "class", negated: true, ranges: [], cats: ["space"] };
      case "b":
        return { t: "assert", kind: "wordb" };
      case "B":
        return { t: "assert", kind: "nwordb" };
      case "<":
        return { t: "assert", kind: "wstart" };
      case ">":
        return { t: "assert", kind: "wend" };
      case "`":
        return { t: "assert", kind: "bol" };
      case "'":
        return { t: "assert", kind: "eol" };
    }
    if (/[\p{L}\p{N}]/u.test(e)) {
      throw rejectPattern(
        `unsupported escape "\\${e}" at ${at}${e === "d" ? ' (use "[0-9]")' : ""}`,
      );
    }
    return { t: "lit", cp: this.cps[this.pos - 1] };
  }

  parseBracket(at: number): ClassNode {
    const node: ClassNode = { t: "class", negated: false, ranges: [], cats: [] };
    if (this.ch() === "^") {
      node.negated = true;
      this.pos++;
    }
    let first = true;
    for (;;) {
      const c = this.ch();
      if (c === "") throw rejectPattern(`unterminated bracket expression at ${at}`);
      if (c === "]" && !first) {
        this.pos++;
        return node;
      }
      first = false;
      if (c === "[" && (this.ch(1) === "=" || this.ch(1) === ".")) {
        throw rejectPattern(`"[${this.ch(1)}" (equivalence class or collating symbol) at ${at}`);
      }
      if (c === "[" && this.ch(1) === ":") {
        const rest = this.cps.slice(this.pos + 2).map((x) => String.fromCodePoint(x)).join("");
        const m = /^([a-z]+):\]/.exec(rest);
        if (!m || !(POSIX_CLASSES as readonly string[]).includes(m[1])) {
          throw rejectPattern(`unknown character class at ${this.pos + 1}`);
        }
        node.cats.push(m[1] as PosixClass);
        this.pos += 2 + m[0].length;
        continue;
      }
      const lo = this.cps[this.pos++];
      if (this.ch() === "-" && this.ch(1) !== "]" && this.ch(1) !== "") {
        this.pos++;
        if (this.ch() === "[" && (this.ch(1) === "." || this.ch(1) === "=" || this.ch(1) === ":")) {
          throw rejectPattern(`invalid range end at ${this.pos + 1}`);
        }
        const hi = this.cps[this.pos++];
        if (hi < lo) throw rejectPattern(`reversed range at ${this.pos - 1}`);
        node.ranges.push([lo, hi]);
      } else {
        node.ranges.push([lo, lo]);
      }
    }
  }

  parseQuantifiers(atom: EreNode): EreNode {
    let node = atom;
    for (;;) {
      const at = this.pos + 1;
      const c = this.ch();
      let min: number, max: number;
      if (c === "*") [min, max] = [0, Infinity];
      else if (c === "+") [min, max] = [1, Infinity];
      else if (c === "?") [min, max] = [0, 1];
      else if (c === "{") {
        const iv = this.interval();
        if (!iv) return node;
        [min, max] = iv;
      } else return node;
      if (c !== "{") this.pos++;
      if (node.t === "assert") throw rejectPattern(`quantifier at ${at} applied to an anchor`);
      if (node.t === "rep") throw rejectPattern(`stacked quantifiers at ${at}`);
      node = { t: "rep", node, min, max };
    }
  }

  /** Parses `{n}`, `{n,}`, `{,m}`, `{n,m}` at pos; null (and no advance) when not an interval. */
  interval(): [number, number] | null {
    const rest = this.cps.slice(this.pos, this.pos + 16).map((x) => String.fromCodePoint(x)).join(
      "",
    );
    const m = /^\{(\d*)(,(\d*))?\}/.exec(rest);
    if (!m || (m[1] === "" && (m[3] ?? "") === "")) return null;
    const min = m[1] === "" ? 0 : Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) {
      throw rejectPattern(`repetition bound over ${MAX_REPEAT} at ${this.pos + 1}`);
    }
    if (max < min) throw rejectPattern(`invalid interval at ${this.pos + 1}`);
    this.pos += m[0].length;
    return [min, max];
  }
}

/** Parses an ERE into alternatives of sequences; throws `logs_pattern_rejected`. */
export function parseEre(pattern: string): EreNode[][] {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw rejectPattern(`longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const p = new Parser(pattern);
  const alts = p.parseAlts(0);
  if (p.pos < p.cps.length) throw rejectPattern(`unexpected ")" at ${p.pos + 1}`);
  return alts;
}
