/**
 * Byte-level search primitives for the log scanner: a Boyer-Moore-Horspool
 * search with optional ASCII case folding, and a word-at-a-time newline count.
 *
 * @module
 */

/** Identity byte map (case-sensitive search). */
const IDENTITY = Uint8Array.from({ length: 256 }, (_, i) => i);
/** ASCII lowercase byte map (`-i` on ASCII). */
const ASCII_LOWER = Uint8Array.from({ length: 256 }, (_, i) => (i >= 65 && i <= 90 ? i + 32 : i));

/** A prepared fixed-byte needle. */
export class ByteNeedle {
  /** The needle (lowercased when folding). */
  readonly needle: Uint8Array;
  /** Byte map applied to haystack bytes before comparing. */
  readonly map: Uint8Array;
  /** Horspool shift per haystack byte. */
  readonly skip: Int32Array;

  /** Prepares `needle`; with `fold`, `needle` must already be ASCII-lowercase. */
  constructor(needle: Uint8Array, fold: boolean) {
    this.needle = needle;
    this.map = fold ? ASCII_LOWER : IDENTITY;
    const m = needle.length;
    this.skip = new Int32Array(256).fill(Math.max(1, m));
    for (let k = 0; k < m - 1; k++) {
      const d = m - 1 - k;
      this.skip[needle[k]] = d;
      if (fold && needle[k] >= 97 && needle[k] <= 122) this.skip[needle[k] - 32] = d;
    }
  }

  /** Index of the first occurrence in `hay[from, end)`, or -1. */
  find(hay: Uint8Array, from: number, end: number): number {
    const pat = this.needle;
    const m = pat.length;
    if (m === 0) return from <= end ? from : -1;
    if (m === 1 && this.map === IDENTITY) {
      const i = hay.indexOf(pat[0], from);
      return i >= 0 && i < end ? i : -1;
    }
    const map = this.map;
    const skip = this.skip;
    const last = pat[m - 1];
    let i = from + m - 1;
    while (i < end) {
      const x = hay[i];
      if (map[x] === last) {
        let k = m - 2;
        let j = i - 1;
        while (k >= 0 && map[hay[j]] === pat[k]) {
          k--;
          j--;
        }
        if (k < 0) return j + 1;
      }
      i += skip[x];
    }
    return -1;
  }
}

/** Index of the first occurrence of a short `seq` in `hay[from, end)`, or -1. */
export function findSeq(hay: Uint8Array, seq: Uint8Array, from: number, end: number): number {
  const first = seq[0];
  let i = hay.indexOf(first, from);
  while (i >= 0 && i + seq.length <= end) {
    let k = 1;
    while (k < seq.length && hay[i + k] === seq[k]) k++;
    if (k === seq.length) return i;
    i = hay.indexOf(first, i + 1);
  }
  return -1;
}

/**
 * Counts `\n` bytes in `buf[from, to)`. `words` must be a `Uint32Array` view of
 * the same memory starting at `buf`'s offset 0 (four bytes at a time, SWAR).
 */
export function countNewlines(
  buf: Uint8Array,
  words: Uint32Array,
  from: number,
  to: number,
): number {
  let n = 0;
  let i = from;
  while (i < to && (i & 3) !== 0) if (buf[i++] === 10) n++;
  const wEnd = to >>> 2;
  for (let w = i >>> 2; w < wEnd; w++) {
    const v = words[w] ^ 0x0a0a0a0a;
    let t = (v & 0x7f7f7f7f) + 0x7f7f7f7f;
    t = ~(t | v | 0x7f7f7f7f);
    if (t !== 0) n += Math.imul((t >>> 7) & 0x01010101, 0x01010101) >>> 24;
  }
  for (i = Math.max(i, wEnd << 2); i < to; i++) if (buf[i] === 10) n++;
  return n;
}
