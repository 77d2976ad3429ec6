/**
 * A streaming RFC 4180 CSV parser and writer.
 *
 * - Quoted fields may hold delimiters, quotes (escaped as `""`) and line
 *   breaks. Records end with LF or CRLF (a CR before the LF is dropped).
 * - Chunks may split the input anywhere, also inside a quoted field, between
 *   a CR and its LF, or inside a multi-byte UTF-8 character (byte chunks go
 *   through a streaming `TextDecoder`). A UTF-8 byte order mark is skipped.
 * - The parser never throws on malformed input; it is lenient and counts what
 *   it repaired in {@link CsvStats}: text after a closing quote is kept as part
 *   of the field, a quote inside an unquoted field is data, an unterminated
 *   quoted field at the end of input is closed there.
 *
 * Speed: unquoted fields are cut with one `charCodeAt` scan and one `slice`
 * each; quoted fields jump from quote to quote with `indexOf`. Parsing state
 * (current record, partial field, quote state) survives between chunks, so no
 * input is scanned twice.
 *
 * @module
 */
import type { FieldValue, StreamRecord } from "./record.ts";

const LF = 10;
const CR = 13;
const QUOTE = 34;

/** Repairs and irregularities seen while parsing. */
export interface CsvStats {
  /** Records emitted (the header row included when it is parsed as a row). */
  rows: number;
  /** Blank lines skipped. */
  blankLines: number;
  /** Quoted fields with text between the closing quote and the next delimiter. */
  textAfterQuote: number;
  /** 1 if the input ended inside a quoted field. */
  unterminatedQuote: number;
  /** Records with fewer or more fields than the header (records mode only). */
  wrongWidth: number;
}

/** Options of {@link CsvParser}. */
export interface CsvOptions {
  /** Field delimiter, one character other than `"`, CR or LF (default `,`). */
  delimiter?: string;
  /** Skip lines that are completely empty (default true). */
  skipBlankLines?: boolean;
}

const enum Mode {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteSeen,
  AfterQuote,
}

/** Streaming CSV parser producing rows as string arrays. */
export class CsvParser {
  readonly #delim: number;
  readonly #skipBlank: boolean;
  #decoder: TextDecoder | undefined;
  #mode = Mode.FieldStart;
  #fields: string[] = [];
  #field = "";
  #started = false;
  #out: string[][] = [];
  /** What the parser repaired or skipped so far. */
  readonly stats: CsvStats = {
    rows: 0,
    blankLines: 0,
    textAfterQuote: 0,
    unterminatedQuote: 0,
    wrongWidth: 0,
  };

  /** Creates a parser; throws `RangeError` for an unusable delimiter. */
  constructor(opts: CsvOptions = {}) {
    const d = opts.delimiter ?? ",";
    if (d.length !== 1 || d === '"' || d === "\r" || d === "\n") {
      throw new RangeError(`CSV delimiter must be one character other than '"', CR or LF`);
    }
    this.#delim = d.charCodeAt(0);
    this.#skipBlank = opts.skipBlankLines ?? true;
  }

  /** Parses the next chunk and returns the rows it completed. */
  push(chunk: string | Uint8Array): string[][] {
    let s: string;
    if (typeof chunk === "string") {
      s = chunk;
    } else {
      this.#decoder ??= new TextDecoder();
      s = this.#decoder.decode(chunk, { stream: true });
    }
    if (!this.#started && s.length > 0) {
      this.#started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    this.#scan(s);
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** Ends the input: returns the last rows (a final record without a line break included). */
  finish(): string[][] {
    if (this.#decoder) {
      const rest = this.#decoder.decode();
      this.#decoder = undefined;
      if (rest.length > 0) this.#scan(rest);
    }
    switch (this.#mode) {
      case Mode.Quoted:
      case Mode.QuoteSeen:
        if (this.#mode === Mode.Quoted) this.stats.unterminatedQuote = 1;
        this.#endRecord();
        break;
      case Mode.Unquoted:
      case Mode.AfterQuote:
        this.#endRecord();
        break;
      case Mode.FieldStart:
        if (this.#fields.length > 0) this.#endRecord();
        break;
    }
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #endRecord(): void {
    let f = this.#field;
    if (this.#mode === Mode.Unquoted && f.length > 0 && f.charCodeAt(f.length - 1) === CR) {
      f = f.slice(0, -1);
    }
    const fields = this.#fields;
    fields.push(f);
    this.#field = "";
    this.#fields = [];
    this.#mode = Mode.FieldStart;
    const quoted = this.#quoted;
    this.#quoted = false;
    if (fields.length === 1 && fields[0] === "" && this.#skipBlank && !quoted) {
      this.stats.blankLines++;
      return;
    }
    this.stats.rows++;
    this.#out.push(fields);
  }

  /** True when the current record has a quoted field (so it is never a blank line). */
  #quoted = false;

  #scan(s: string): void {
    const n = s.length;
    const D = this.#delim;
    let i = 0;
    while (i < n) {
      switch (this.#mode) {
        case Mode.FieldStart: {
          if (s.charCodeAt(i) === QUOTE) {
            this.#mode = Mode.Quoted;
            this.#quoted = true;
            i++;
            continue;
          }
          // Fast path: a whole unquoted field inside this chunk.
          let j = i;
          let c = 0;
          while (j < n) {
            c = s.charCodeAt(j);
            if (c === D || c === LF) break;
            j++;
          }
          if (j === n) {
            this.#field = s.slice(i);
            this.#mode = Mode.Unquoted;
            return;
          }
          let end = j;
          if (c === LF && end > i && s.charCodeAt(end - 1) === CR) end--;
          this.#fields.push(s.slice(i, end));
          i = j + 1;
          if (c === LF) this.#finishFields();
          continue;
        }
        case Mode.Unquoted: {
          let j = i;
          let c = 0;
          while (j < n) {
            c = s.charCodeAt(j);
            if (c === D || c === LF) break;
            j++;
          }
          this.#field += s.slice(i, j);
          if (j === n) return;
          i = j + 1;
          if (c === D) {
            this.#fields.push(this.#field);
            this.#field = "";
            this.#mode = Mode.FieldStart;
          } else {
            this.#endRecord();
          }
          continue;
        }
        case Mode.Quoted: {
          const q = s.indexOf('"', i);
          if (q < 0) {
            this.#field += s.slice(i);
            return;
          }
          this.#field += s.slice(i, q);
          this.#mode = Mode.QuoteSeen;
          i = q + 1;
          continue;
        }
        case Mode.QuoteSeen: {
          if (s.charCodeAt(i) === QUOTE) {
            this.#field += '"';
            this.#mode = Mode.Quoted;
            i++;
          } else {
            this.#mode = Mode.AfterQuote;
          }
          continue;
        }
        case Mode.AfterQuote: {
          const c = s.charCodeAt(i);
          i++;
          if (c === D) {
            this.#fields.push(this.#field);
            this.#field = "";
            this.#mode = Mode.FieldStart;
          } else if (c === LF) {
            this.#endQuotedRecord();
          } else if (c !== CR) {
            this.stats.textAfterQuote++;
            this.#field += String.fromCharCode(c);
            this.#mode = Mode.Unquoted;
          } else if (i < n && s.charCodeAt(i) !== LF) {
            // A CR not followed by LF after a closing quote is data.
            this.stats.textAfterQuote++;
            this.#field += "\r";
            this.#mode = Mode.Unquoted;
          } else if (i === n) {
            // Chunk ends between CR and (probably) LF: keep the CR pending as data
            // of an unquoted tail; #endRecord strips a CR before LF.
            this.#field += "\r";
            this.#mode = Mode.Unquoted;
          }
          continue;
        }
      }
    }
  }

  #endQuotedRecord(): void {
    const fields = this.#fields;
    fields.push(this.#field);
    this.#field = "";
    this.#fields = [];
    this.#mode = Mode.FieldStart;
    this.#quoted = false;
    this.stats.rows++;
    this.#out.push(fields);
  }

  /** Ends a record whose last field was already pushed by the fast path. */
  #finishFields(): void {
    const fields = this.#fields;
    this.#fields = [];
    const quoted = this.#quoted;
    this.#quoted = false;
    if (fields.length === 1 && fields[0] === "" && this.#skipBlank && !quoted) {
      this.stats.blankLines++;
      return;
    }
    this.stats.rows++;
    this.#out.push(fields);
  }
}

/** Options of {@link CsvRecordReader}. */
export interface CsvRecordOptions extends CsvOptions {
  /** Column names; when absent the first row is the header. */
  columns?: readonly string[];
}

/**
 * Streaming CSV reader producing records (objects keyed by column name). A
 * short row gets `""` for its missing columns, extra fields are dropped; both
 * count in `stats.wrongWidth`. Duplicate header names get a `_2`, `_3` suffix;
 * an empty header name becomes `column<i>`.
 */
export class CsvRecordReader {
  readonly #parser: CsvParser;
  #columns: string[] | undefined;

  /** Creates a reader; see {@link CsvRecordOptions}. */
  constructor(opts: CsvRecordOptions = {}) {
    this.#parser = new CsvParser(opts);
    if (opts.columns) this.#columns = uniqueColumns(opts.columns);
  }

  /** The column names (after the header row was read). */
  get columns(): readonly string[] | undefined {
    return this.#columns;
  }

  /** Parser statistics. */
  get stats(): CsvStats {
    return this.#parser.stats;
  }

  /** Parses a chunk; returns the records it completed. */
  push(chunk: string | Uint8Array): StreamRecord[] {
    return this.#toRecords(this.#parser.push(chunk));
  }

  /** Ends the input; returns the remaining records. */
  finish(): StreamRecord[] {
    return this.#toRecords(this.#parser.finish());
  }

  #toRecords(rows: string[][]): StreamRecord[] {
    const out: StreamRecord[] = [];
    let start = 0;
    if (this.#columns === undefined) {
      if (rows.length === 0) return out;
      this.#columns = uniqueColumns(rows[0]);
      start = 1;
    }
    const cols = this.#columns;
    const w = cols.length;
    this.#make ??= recordFactory(cols);
    const make = this.#make;
    for (let r = start; r < rows.length; r++) {
      const f = rows[r];
      if (f.length !== w) {
        this.#parser.stats.wrongWidth++;
        while (f.length < w) f.push("");
      }
      out.push(make(f));
    }
    return out;
  }

  #make: ((f: readonly FieldValue[]) => StreamRecord) | undefined;
}

/**
 * Builds a function that turns a row into a record with the given keys. For
 * speed it compiles an object literal with fixed keys (every record then has
 * the same hidden class); keys are embedded as JSON string literals, so no
 * column name can inject code. A `__proto__` column, which a literal would
 * treat as the prototype, uses the generic path.
 */
export function recordFactory(
  cols: readonly string[],
): (f: readonly FieldValue[]) => StreamRecord {
  if (cols.includes("__proto__") || cols.length > 512) {
    return (f) => {
      const rec: StreamRecord = {};
      for (let k = 0; k < cols.length; k++) {
        Object.defineProperty(rec, cols[k], {
          value: f[k],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return rec;
    };
  }
  const body = `return {${cols.map((c, i) => `${JSON.stringify(c)}: f[${i}]`).join(", ")}};`;
  return new Function("f", body) as (f: readonly FieldValue[]) => StreamRecord;
}

/** Header names made unique (`_2`, `_3` suffixes; an empty name becomes `column<i>`). */
export function uniqueColumns(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((raw, i) => {
    const name = raw === "" ? `column${i}` : raw;
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? name : `${name}_${n}`;
  });
}

/** Parses a whole CSV text into rows (string arrays). */
export function parseCsvRows(text: string | Uint8Array, opts: CsvOptions = {}): string[][] {
  const p = new CsvParser(opts);
  const rows = p.push(text);
  for (const r of p.finish()) rows.push(r);
  return rows;
}

/** Parses a whole CSV text with a header row into records. */
export function parseCsvRecords(
  text: string | Uint8Array,
  opts: CsvRecordOptions = {},
): StreamRecord[] {
  const r = new CsvRecordReader(opts);
  const recs = r.push(text);
  for (const x of r.finish()) recs.push(x);
  return recs;
}

/** Formats one field, quoting it when it holds the delimiter, a quote, CR or LF. */
export function formatCsvField(value: string | number, delimiter = ","): string {
  const s = typeof value === "string" ? value : String(value);
  if (
    s.includes(delimiter) || s.includes('"') || s.includes("\n") || s.includes("\r") ||
    s.charCodeAt(0) === 0xfeff
  ) {
    return `"${s.replaceAll('"', '""')}"`;
  }
  return s;
}

/** Formats one row with its line break (CRLF when `crlf`). Parsing it gives the row back. */
export function formatCsvRow(
  fields: readonly (string | number)[],
  opts: { delimiter?: string; crlf?: boolean } = {},
): string {
  const d = opts.delimiter ?? ",";
  const eol = opts.crlf ? "\r\n" : "\n";
  if (fields.length === 1 && fields[0] === "") return `""${eol}`;
  let line = "";
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) line += d;
    line += formatCsvField(fields[i], d);
  }
  return line + eol;
}

/** Formats records as CSV with a header row of `columns` (default: the first record's keys). */
export function formatCsv(records: readonly StreamRecord[], columns?: readonly string[]): string {
  const cols = columns ?? (records.length > 0 ? Object.keys(records[0]) : []);
  let out = formatCsvRow(cols);
  for (const r of records) out += formatCsvRow(cols.map((c) => r[c] ?? ""));
  return out;
}
