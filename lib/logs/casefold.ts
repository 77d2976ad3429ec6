/**
 * Case-insensitive character equivalence as GNU grep computes it in a UTF-8
 * locale (gnulib `case_folded_counterparts`): a pattern character `c` matches
 * `c`, its simple uppercase `U(c)`, the simple lowercase of that uppercase when
 * it maps back to `U(c)`, and the "lonesome" lowercase letters whose uppercase
 * is `U(c)` (e.g. `s` also matches `ſ`, `i` also matches dotless `ı`).
 *
 * Simple (one code point) mappings come from the runtime's Unicode tables:
 * `toUpperCase`/`toLowerCase` when they yield one code point, otherwise the
 * simple mapping is recovered (titlecase iota-subscript letters) or is the
 * character itself (`ß`). Checked against GNU grep 3.8 / glibc 2.36 in
 * `C.UTF-8` for every cased code point below U+20000; differences remain only
 * for characters newer than glibc's Unicode tables.
 *
 * @module
 */

/** gnulib's lonesome lowercase letters (their uppercase does not lowercase back to them). */
const LONESOME_LOWER: readonly number[] = [
  0x00b5,
  0x0131,
  0x017f,
  0x01c5,
  0x01c8,
  0x01cb,
  0x01f2,
  0x0345,
  0x03c2,
  0x03d0,
  0x03d1,
  0x03d5,
  0x03d6,
  0x03f0,
  0x03f1,
  0x03f2,
  0x03f5,
  0x1e9b,
  0x1fbe,
];

function single(s: string): number | undefined {
  const cp = s.codePointAt(0);
  if (cp === undefined) return undefined;
  return s.length === (cp > 0xffff ? 2 : 1) ? cp : undefined;
}

const upperCache = new Map<number, number>();

/** Simple uppercase mapping of one code point (the code point itself when it has none). */
export function simpleUpper(cp: number): number {
  if (cp < 0x80) return cp >= 0x61 && cp <= 0x7a ? cp - 32 : cp;
  let u = single(String.fromCodePoint(cp).toUpperCase());
  if (u !== undefined) return u;
  const cached = upperCache.get(cp);
  if (cached !== undefined) return cached;
  // The full mapping has several code points. The simple mapping, if any, is the
  // single character that lowercases to `cp` (the U+1F80..U+1FFC titlecase
  // forms); `ß` has none although U+1E9E lowercases to it.
  u = cp;
  if (cp >= 0x1f80 && cp <= 0x1fff) {
    for (let y = 0x1f80; y <= 0x1fff; y++) {
      if (y !== cp && single(String.fromCodePoint(y).toLowerCase()) === cp) {
        u = y;
        break;
      }
    }
  }
  upperCache.set(cp, u);
  return u;
}

/** Simple lowercase mapping of one code point. */
export function simpleLower(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
  if (cp === 0x130) return 0x69;
  return single(String.fromCodePoint(cp).toLowerCase()) ?? cp;
}

const counterpartCache = new Map<number, readonly number[]>();

/** The other code points a pattern character `cp` matches under `-i` (never includes `cp`). */
export function caseCounterparts(cp: number): readonly number[] {
  const cached = counterpartCache.get(cp);
  if (cached) return cached;
  const out: number[] = [];
  const uc = simpleUpper(cp);
  const lc = simpleLower(uc);
  if (uc !== cp) out.push(uc);
  if (lc !== uc && lc !== cp && simpleUpper(lc) === uc) out.push(lc);
  for (const li of LONESOME_LOWER) {
    if (li !== lc && li !== uc && li !== cp && simpleUpper(li) === uc) out.push(li);
  }
  counterpartCache.set(cp, out);
  return out;
}

let casedList: number[] | null = null;

/**
 * Every code point below U+20000 that has a case mapping, ascending. Built
 * once on first use (used to fold ranges of bracket expressions under `-i`).
 */
export function casedCodePoints(): readonly number[] {
  if (casedList) return casedList;
  const out: number[] = [];
  for (let cp = 0x41; cp < 0x20000; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    if (simpleUpper(cp) !== cp || simpleLower(cp) !== cp) {
      out.push(cp);
    }
  }
  casedList = out;
  return out;
}
