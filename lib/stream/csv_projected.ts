/**
 * A CSV record reader that keeps only some columns: the fast path of a
 * source task whose downstream operators read a few columns of wide rows.
 *
 * It gives exactly the records {@link CsvRecordReader} would give, each cut
 * down to the kept columns (in header order; a short row gets `""` for a
 * kept column it lacks), with the same RFC 4180 rules and the same
 * leniency (text after a closing quote is kept, a quote inside an unquoted
 * field is data, an unterminated quoted field is closed at the end of
 * input, blank lines are skipped). What makes it cheaper:
 *
 * - fields that are not kept are scanned but never sliced into strings;
 * - after the last kept field the rest of the line is skipped with one
 *   native `indexOf` for the line break, unless a quote lies before that
 *   line break (then the remaining fields are scanned one by one);
 * - no array of fields is built per row: values go into one reused array
 *   and a compiled constructor makes the record (one hidden class).
 *
 * Chunks may end anywhere: the text of an incomplete record is kept and
 * scanned again with the next chunk. A source split instead uses
 * {@link ProjectedCsvReader.parseComplete} on text cut at its last line
 * break and reads an incomplete last record again from the file. Row widths past
 * the last kept column are not checked, so `stats.wrongWidth` stays 0.
 *
 * @module
 */
import { type CsvStats, recordFactory, uniqueColumns } from "./csv.ts";
import type { StreamRecord } from "./record.ts";
import type { RecordReader } from "./sources.ts";

const LF = 10;
const CR = 13;
const QUOTE = 34;

/** Options of {@link ProjectedCsvReader}. */
export interface ProjectedCsvOptions {
  /** The header's column names (made unique like {@link CsvRecordReader} does). */
  columns: readonly string[];
  /** The column names to keep; names not in the header are left out of the records. */
  keep: readonly string[];
  /** Field delimiter (default `,`). */
  delimiter?: string;
  /** Skip lines that are completely empty (default true). */
  skipBlankLines?: boolean;
}

/** See the module documentation. */
export class ProjectedCsvReader implements RecordReader {
  /** Always 0: every row becomes a record. */
  readonly rejected = 0;
  /** The kept columns, in header order. */
  readonly columns: readonly string[];
  /** What the reader repaired or skipped so far (`wrongWidth` is not tracked). */
  readonly stats: CsvStats = {
    rows: 0,
    blankLines: 0,
    textAfterQuote: 0,
    unterminatedQuote: 0,
    wrongWidth: 0,
  };
  readonly #delim: number;
  readonly #skipBlank: boolean;
  /** Slot of field `f` in `#vals`, or -1; its length is the last kept field + 1. */
  readonly #slotOf: Int32Array;
  readonly #vals: string[];
  readonly #make: (f: string[]) => StreamRecord;
  #decoder: TextDecoder | undefined;
  #started = false;
  #carry = "";
  /** Index of the next quote at or after the scan position in the current text (-1: none). */
  #nextQuote = -1;

  /** Creates a reader; throws `RangeError` for an unusable delimiter. */
  constructor(opts: ProjectedCsvOptions) {
    const d = opts.delimiter ?? ",";
    if (d.length !== 1 || d === '"' || d === "\r" || d === "\n") {
      throw new RangeError(`CSV delimiter must be one character other than '"', CR or LF`);
    }
    this.#delim = d.charCodeAt(0);
    this.#skipBlank = opts.skipBlankLines ?? true;
    const cols = uniqueColumns(opts.columns);
    const keep = new Set(opts.keep);
    const kept: number[] = [];
    cols.forEach((c, i) => {
      if (keep.has(c)) kept.push(i);
    });
    const last = kept.length > 0 ? kept[kept.length - 1] : -1;
    this.#slotOf = new Int32Array(last + 1).fill(-1);
    kept.forEach((f, slot) => (this.#slotOf[f] = slot));
    this.#vals = kept.map(() => "");
    this.columns = kept.map((i) => cols[i]);
    this.#make = recordFactory(this.columns);
  }

  /** Parses a chunk; returns the records it completed. */
  push(chunk: string | Uint8Array): StreamRecord[] {
    let s: string;
    if (typeof chunk === "string") s = chunk;
    else {
      this.#decoder ??= new TextDecoder();
      s = this.#decoder.decode(chunk, { stream: true });
    }
    if (!this.#started && s.length > 0) {
      this.#started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    if (this.#carry.length > 0) {
      s = this.#carry + s;
      this.#carry = "";
    }
    const out: StreamRecord[] = [];
    const end = this.#scan(s, false, out);
    if (end < s.length) this.#carry = s.slice(end);
    return out;
  }

  /** Ends the input; returns the remaining records. */
  finish(): StreamRecord[] {
    let s = this.#carry;
    this.#carry = "";
    if (this.#decoder) {
      s += this.#decoder.decode();
      this.#decoder = undefined;
    }
    const out: StreamRecord[] = [];
    this.#scan(s, true, out);
    return out;
  }

  /**
   * Parses the complete records at the start of `text`, a standalone text
   * (not a continuation of pushed chunks, whose state it leaves alone);
   * returns how many characters they span. With `final` the text ends the
   * input, so everything is consumed.
   */
  parseComplete(text: string, final: boolean, out: StreamRecord[]): number {
    return this.#scan(text, final, out);
  }

  /** Emits the complete records of `s`; returns where the first incomplete one starts. */
  #scan(s: string, final: boolean, out: StreamRecord[]): number {
    const n = s.length;
    this.#nextQuote = s.indexOf('"');
    let i = 0;
    while (i < n) {
      const next = this.#record(s, i, final, out);
      if (next < 0) return i;
      i = next;
    }
    return n;
  }

  /** Is there a quote in `s` from `i` up to (excluding) `end`? */
  #quoteBefore(s: string, i: number, end: number): boolean {
    let q = this.#nextQuote;
    if (q < 0) return false;
    if (q < i) q = this.#nextQuote = s.indexOf('"', i);
    return q >= 0 && q < end;
  }

  /**
   * Parses the record starting at `start`, emits it (unless it is a blank
   * line) and returns where the next one starts; -1 when the record does
   * not end inside `s` and more input may follow.
   */
  #record(s: string, start: number, final: boolean, out: StreamRecord[]): number {
    const n = s.length;
    const D = this.#delim;
    const slotOf = this.#slotOf;
    const last = slotOf.length - 1;
    const vals = this.#vals;
    for (let k = 0; k < vals.length; k++) vals[k] = "";
    let i = start;
    let f = 0;
    let blank = false;
    for (;;) {
      if (f > last) {
        const nl = s.indexOf("\n", i);
        const end = nl < 0 ? n : nl;
        if (!this.#quoteBefore(s, i, end)) {
          if (nl < 0 && !final) return -1;
          // No kept column at all: a line that is empty (or just CR) is blank.
          if (f === 0 && (end === i || (end === i + 1 && s.charCodeAt(i) === CR))) blank = true;
          i = nl < 0 ? n : nl + 1;
          break;
        }
      }
      if (i >= n) {
        if (!final) return -1;
        break; // a trailing empty field at the end of input
      }
      const slot = f <= last ? slotOf[f] : -1;
      let c = s.charCodeAt(i);
      if (c !== QUOTE) {
        let k = i;
        while (k < n) {
          c = s.charCodeAt(k);
          if (c === D || c === LF) break;
          k++;
        }
        if (k === n && !final) return -1;
        let end = k;
        if (k === n || c === LF) {
          if (end > i && s.charCodeAt(end - 1) === CR) end--;
          if (f === 0 && end === i) blank = true;
        }
        if (slot >= 0) vals[slot] = s.slice(i, end);
        if (k === n) {
          i = n;
          break;
        }
        i = k + 1;
        if (c === LF) break;
        f++;
        continue;
      }
      // A quoted field.
      let val = "";
      let j = i + 1;
      let closed = true;
      for (;;) {
        const q = s.indexOf('"', j);
        if (q < 0) {
          if (!final) return -1;
          if (slot >= 0) val += s.slice(j);
          j = n;
          closed = false;
          break;
        }
        if (slot >= 0) val += s.slice(j, q);
        if (q + 1 >= n && !final) return -1;
        if (q + 1 < n && s.charCodeAt(q + 1) === QUOTE) {
          if (slot >= 0) val += '"';
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      if (!closed) {
        this.stats.unterminatedQuote = 1;
        if (slot >= 0) vals[slot] = val;
        i = n;
        break;
      }
      // After the closing quote.
      if (j >= n) {
        if (slot >= 0) vals[slot] = val;
        i = n;
        break;
      }
      c = s.charCodeAt(j);
      if (c === D || c === LF) {
        if (slot >= 0) vals[slot] = val;
        i = j + 1;
        if (c === LF) break;
        f++;
        continue;
      }
      if (c === CR && (j + 1 >= n || s.charCodeAt(j + 1) === LF)) {
        if (j + 1 >= n && !final) return -1;
        if (slot >= 0) vals[slot] = val;
        i = Math.min(n, j + 2);
        break;
      }
      // Text after the closing quote: the rest up to the delimiter is data.
      this.stats.textAfterQuote++;
      let k = j;
      while (k < n) {
        c = s.charCodeAt(k);
        if (c === D || c === LF) break;
        k++;
      }
      if (k === n && !final) return -1;
      let end = k;
      if ((k === n || c === LF) && s.charCodeAt(end - 1) === CR) end--;
      if (slot >= 0) vals[slot] = val + s.slice(j, end);
      if (k === n) {
        i = n;
        break;
      }
      i = k + 1;
      if (c === LF) break;
      f++;
    }
    if (blank && f === 0 && this.#skipBlank) {
      this.stats.blankLines++;
      return i;
    }
    this.stats.rows++;
    out.push(this.#make(vals));
    return i;
  }
}
