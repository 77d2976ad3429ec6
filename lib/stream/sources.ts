/**
 * Record sources over byte or text chunks: plain lines, NDJSON and CSV, all
 * streaming (a chunk may end anywhere) and all non-throwing on bad input.
 *
 * @module
 */
import { type CsvRecordOptions, CsvRecordReader } from "./csv.ts";
import { jsonToField, type StreamRecord } from "./record.ts";

/** Splits a stream of chunks into lines (LF or CRLF; the line break is dropped). */
export class LineSplitter {
  #decoder: TextDecoder | undefined;
  #rest = "";

  /** Returns the complete lines in the chunk (plus what was left from earlier chunks). */
  push(chunk: string | Uint8Array): string[] {
    let s: string;
    if (typeof chunk === "string") s = chunk;
    else {
      this.#decoder ??= new TextDecoder();
      s = this.#decoder.decode(chunk, { stream: true });
    }
    const out: string[] = [];
    let from = 0;
    let nl = s.indexOf("\n");
    if (nl < 0) {
      this.#rest += s;
      return out;
    }
    let first = true;
    while (nl >= 0) {
      let line = s.slice(from, nl);
      if (first) {
        line = this.#rest + line;
        this.#rest = "";
        first = false;
      }
      out.push(line.endsWith("\r") ? line.slice(0, -1) : line);
      from = nl + 1;
      nl = s.indexOf("\n", from);
    }
    this.#rest = s.slice(from);
    return out;
  }

  /** Ends the input: the last line if it had no line break. */
  finish(): string[] {
    if (this.#decoder) {
      this.#rest += this.#decoder.decode();
      this.#decoder = undefined;
    }
    const rest = this.#rest;
    this.#rest = "";
    if (rest === "") return [];
    return [rest.endsWith("\r") ? rest.slice(0, -1) : rest];
  }
}

/** A source turning chunks into records. */
export interface RecordReader {
  /** Records completed by this chunk. */
  push(chunk: string | Uint8Array): StreamRecord[];
  /** Records left at the end of input. */
  finish(): StreamRecord[];
  /** Input lines or rows that could not be turned into records. */
  readonly rejected: number;
}

/** Lines as `{ line }` records (empty lines included, a final empty line excluded). */
export class LinesReader implements RecordReader {
  readonly #split = new LineSplitter();
  /** Always 0: every line is a record. */
  readonly rejected = 0;
  /** See {@link RecordReader.push}. */
  push(chunk: string | Uint8Array): StreamRecord[] {
    return this.#split.push(chunk).map((line) => ({ line }));
  }
  /** See {@link RecordReader.finish}. */
  finish(): StreamRecord[] {
    return this.#split.finish().map((line) => ({ line }));
  }
}

/**
 * NDJSON: one JSON object per line, flattened by {@link jsonToField}. Blank
 * lines are skipped; a line that is not a JSON object is counted in
 * {@link NdjsonReader.rejected} and skipped.
 */
export class NdjsonReader implements RecordReader {
  readonly #split = new LineSplitter();
  #rejected = 0;
  /** Lines that were not JSON objects. */
  get rejected(): number {
    return this.#rejected;
  }
  /** See {@link RecordReader.push}. */
  push(chunk: string | Uint8Array): StreamRecord[] {
    return this.#convert(this.#split.push(chunk));
  }
  /** See {@link RecordReader.finish}. */
  finish(): StreamRecord[] {
    return this.#convert(this.#split.finish());
  }
  #convert(lines: string[]): StreamRecord[] {
    const out: StreamRecord[] = [];
    for (const line of lines) {
      if (line.trim() === "") continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        this.#rejected++;
        continue;
      }
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        this.#rejected++;
        continue;
      }
      const rec: StreamRecord = {};
      for (const [k, x] of Object.entries(v)) rec[k] = jsonToField(x);
      out.push(rec);
    }
    return out;
  }
}

/** CSV with a header (or given columns) as records; see {@link CsvRecordReader}. */
export class CsvReader implements RecordReader {
  readonly #reader: CsvRecordReader;
  /** Creates a reader. */
  constructor(opts: CsvRecordOptions = {}) {
    this.#reader = new CsvRecordReader(opts);
  }
  /** Rows whose width differed from the header (kept, padded or cut). */
  get rejected(): number {
    return 0;
  }
  /** The underlying CSV statistics. */
  get stats(): CsvRecordReader["stats"] {
    return this.#reader.stats;
  }
  /** See {@link RecordReader.push}. */
  push(chunk: string | Uint8Array): StreamRecord[] {
    return this.#reader.push(chunk);
  }
  /** See {@link RecordReader.finish}. */
  finish(): StreamRecord[] {
    return this.#reader.finish();
  }
}
