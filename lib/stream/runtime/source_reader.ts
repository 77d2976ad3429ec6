/**
 * Reading a source split from the {@link StreamFs}: byte ranges cut at line
 * boundaries, chunks that end on a record boundary (so a checkpoint offset
 * is simply the byte offset of the next unread record), and tailing a live
 * stream's log.
 *
 * Splits: source task `i` of `n` gets the nominal range
 * `[size*i/n, size*(i+1)/n)`; a split starts at the first line start at or
 * after its nominal start (the line containing the boundary belongs to the
 * split before), so every line is read by exactly one task. A CSV header
 * line is read by every task (to learn the columns) and skipped as data.
 * Byte-range splitting assumes CSV fields do not contain line breaks when
 * the source runs with more than one task (chunks inside one split do handle
 * quoted line breaks: a chunk ends only at a line break outside quotes).
 *
 * @module
 */
import { parseCsvRows } from "../csv.ts";
import { ProjectedCsvReader } from "../csv_projected.ts";
import { readerForSource } from "../local.ts";
import type { StreamRecord } from "../record.ts";
import type { SourceSpec } from "../spec.ts";
import { CsvReader, type RecordReader } from "../sources.ts";
import { ElasticoreError } from "../../errors.ts";
import type { StreamFs } from "./fs.ts";
import { jobPaths } from "./graph.ts";

/** Bytes read per chunk. */
export const CHUNK_BYTES = 256 * 1024;

const LF = 10;
const QUOTE = 34;

/** The index just after the last record boundary in `bytes` (0: none). */
export function lastBoundary(bytes: Uint8Array, quoteAware: boolean): number {
  if (!quoteAware) return bytes.lastIndexOf(LF) + 1;
  let inQuotes = false;
  let last = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) inQuotes = !inQuotes;
    else if (b === LF && !inQuotes) last = i + 1;
  }
  return last;
}

/** The first line start at or after `pos` (`size` when there is none). */
export async function lineStartAtOrAfter(
  fs: StreamFs,
  path: string,
  pos: number,
  size: number,
): Promise<number> {
  if (pos <= 0) return 0;
  let at = pos - 1;
  while (at < size) {
    const buf = await fs.readRange(path, at, 64 * 1024);
    if (buf.length === 0) break;
    const i = buf.indexOf(LF);
    if (i >= 0) return at + i + 1;
    at += buf.length;
  }
  return size;
}

/** A source split being read: `next()` yields the records of one chunk and the offset after it. */
export interface SplitReader {
  /** The offset of the next unread record. */
  readonly offset: number;
  /** True when the split is exhausted (never for a live stream). */
  readonly done: boolean;
  /** Reads the next chunk; `null` when nothing is available right now (live stream). */
  next(): Promise<StreamRecord[] | null>;
}

/**
 * Opens split `index` of `count` of a file source, resuming at `offset` when
 * given. With `keep` (the columns the rest of the job reads), a CSV source
 * with known columns yields records of just those columns
 * ({@link ProjectedCsvReader}).
 */
export async function openFileSplit(
  fs: StreamFs,
  source: Exclude<SourceSpec, { kind: "stream" }>,
  index: number,
  count: number,
  offset: number | undefined,
  keep?: readonly string[],
): Promise<SplitReader> {
  const path = source.path;
  const size = await fs.size(path);
  let headerEnd = 0;
  let reader: RecordReader;
  if (source.kind === "csv") {
    let columns = source.columns;
    if (source.header) {
      headerEnd = await lineStartAtOrAfter(fs, path, 1, size);
      const headerRow = parseCsvRows(await fs.readRange(path, 0, headerEnd), {
        delimiter: source.delimiter,
      })[0];
      columns ??= headerRow ?? [];
    }
    reader = columns && keep
      ? new ProjectedCsvReader({ delimiter: source.delimiter, columns, keep })
      : new CsvReader({ delimiter: source.delimiter, columns });
  } else reader = readerForSource(source);
  const nominalStart = Math.floor(size * index / count);
  const nominalEnd = Math.floor(size * (index + 1) / count);
  const start = Math.max(headerEnd, await lineStartAtOrAfter(fs, path, nominalStart, size));
  const end = Math.max(
    start,
    index === count - 1 ? size : await lineStartAtOrAfter(fs, path, nominalEnd, size),
  );
  return new FileSplit(fs, path, reader, offset ?? start, end, source.kind === "csv");
}

class FileSplit implements SplitReader {
  #offset: number;
  #finished = false;
  constructor(
    readonly fs: StreamFs,
    readonly path: string,
    readonly reader: RecordReader,
    offset: number,
    readonly end: number,
    readonly quoteAware: boolean,
  ) {
    this.#offset = offset;
  }
  get offset(): number {
    return this.#offset;
  }
  get done(): boolean {
    return this.#finished;
  }
  async next(): Promise<StreamRecord[]> {
    if (this.#offset >= this.end) {
      this.#finished = true;
      return this.reader.finish();
    }
    let want = CHUNK_BYTES;
    for (;;) {
      const len = Math.min(want, this.end - this.#offset);
      const bytes = await this.fs.readRange(this.path, this.#offset, len);
      const atEnd = this.#offset + bytes.length >= this.end || bytes.length < len;
      if (this.reader instanceof ProjectedCsvReader) {
        const recs = this.#nextProjected(this.reader, bytes, atEnd);
        if (recs === "grow") {
          want *= 2;
          continue;
        }
        if (recs !== "slow") return recs;
      }
      const cut = atEnd ? bytes.length : lastBoundary(bytes, this.quoteAware);
      if (cut === 0 && !atEnd) {
        want *= 2;
        continue;
      }
      const recs = this.reader.push(bytes.subarray(0, cut));
      this.#offset += cut;
      if (atEnd) {
        for (const r of this.reader.finish()) recs.push(r);
        this.#offset = this.end;
        this.#finished = true;
      }
      return recs;
    }
  }

  #decoder = new TextDecoder();

  /**
   * The fast path of a projected CSV split: cut at the last line break (no
   * quote-aware scan of the bytes), parse the complete records and leave an
   * incomplete last one (a quoted line break) to be read again. This needs
   * characters to map one to one onto bytes, so a chunk with non-ASCII text
   * takes the general path ("slow"); "grow": no complete record in the window.
   */
  #nextProjected(
    reader: ProjectedCsvReader,
    bytes: Uint8Array,
    atEnd: boolean,
  ): StreamRecord[] | "grow" | "slow" {
    const cut = atEnd ? bytes.length : bytes.lastIndexOf(LF) + 1;
    if (cut === 0 && !atEnd) return "grow";
    const text = this.#decoder.decode(bytes.subarray(0, cut));
    if (text.length !== cut) return "slow";
    const recs: StreamRecord[] = [];
    const used = reader.parseComplete(text, atEnd, recs);
    if (used === 0 && !atEnd) return "grow";
    this.#offset += used;
    if (atEnd) {
      for (const r of reader.finish()) recs.push(r);
      this.#offset = this.end;
      this.#finished = true;
    }
    return recs;
  }
}

/** Opens a live stream's log at `offset` (default its beginning); it never ends. */
export function openStreamLog(
  fs: StreamFs,
  source: Extract<SourceSpec, { kind: "stream" }>,
  offset: number | undefined,
): SplitReader {
  return new StreamTail(fs, jobPaths.streamLog(source.name), readerForSource(source), offset ?? 0);
}

class StreamTail implements SplitReader {
  #offset: number;
  constructor(
    readonly fs: StreamFs,
    readonly path: string,
    readonly reader: RecordReader,
    offset: number,
  ) {
    this.#offset = offset;
  }
  get offset(): number {
    return this.#offset;
  }
  get done(): boolean {
    return false;
  }
  async next(): Promise<StreamRecord[] | null> {
    let size: number;
    try {
      size = await this.fs.size(this.path);
    } catch (e) {
      if (e instanceof ElasticoreError && e.code === "fs_not_found") return null;
      throw e;
    }
    let want = CHUNK_BYTES;
    while (size > this.#offset) {
      const len = Math.min(want, size - this.#offset);
      const bytes = await this.fs.readRange(this.path, this.#offset, len);
      const cut = lastBoundary(bytes, false);
      if (cut === 0) {
        if (len < want) return null;
        want *= 2;
        continue;
      }
      this.#offset += cut;
      return this.reader.push(bytes.subarray(0, cut));
    }
    return null;
  }
}
