/**
 * The local half of distributed grep: scans a node's log files for a grep
 * request and returns matching lines (file, 1-based line number, text) or
 * per-file counts, like GNU `grep -n` / `grep -c` over the same files.
 *
 * Files are read in large chunks with a carry for the partial last line.
 * Fixed strings are searched as bytes (Boyer-Moore-Horspool, ASCII folding
 * for `-i`); newlines are counted word-at-a-time only up to each match, and
 * only matched lines are decoded. Regexes decode each chunk once and run one
 * global RegExp over it, mapping match positions back to lines.
 *
 * Lines are split on `\n` only; a CR of a CR-LF line stays part of the line
 * text, as grep prints it. Invalid UTF-8 is decoded with U+FFFD (grep would
 * call the file binary). A scan stops early, with `truncated: true`, at the
 * deadline or when more than `maxMatches` lines match.
 *
 * A node's RPC handler calls {@link scanLogs} directly.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { ElasticoreError } from "../errors.ts";
import { ByteNeedle, countNewlines, findSeq } from "./bytesearch.ts";
import { type CompiledPattern, compilePattern, type GrepRequest } from "./pattern.ts";

/** One matching line. */
export interface LogMatch {
  /** The file, as passed in. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** The line without its `\n`. */
  text: string;
}

/** Matching-line count of one file (`-c`). */
export interface FileCount {
  /** The file, as passed in. */
  file: string;
  /** Lines that match. */
  count: number;
}

/** A file that could not be scanned (e.g. rotated away meanwhile). */
export interface ScanFileError {
  /** The file. */
  file: string;
  /** Stable code, e.g. `logs_file_missing`. */
  code: string;
  /** What went wrong. */
  message: string;
}

/** What {@link scanLogs} returns. */
export interface ScanResult {
  /** Matching lines in file order, then line order (empty with `count`). */
  matches: LogMatch[];
  /** Per-file counts, in file order (only with `count`). */
  counts: FileCount[];
  /** True when the scan stopped early. */
  truncated: boolean;
  /** Why it stopped early. */
  truncatedBy?: "deadline" | "maxMatches";
  /** Files fully or partly scanned. */
  filesScanned: number;
  /** Bytes read. */
  bytesScanned: number;
  /** Files that could not be read. */
  errors: ScanFileError[];
}

/** Limits and knobs for a scan. */
export interface ScanOptions {
  /** Stop (truncated) once `now()` reaches this time, in ms (default: none). */
  deadline?: number;
  /** Most matching lines returned; more set `truncated` (default 10,000). */
  maxMatches?: number;
  /** Clock for the deadline (default `Date.now`). */
  now?: () => number;
  /** Read size in bytes (default 1 MiB). */
  chunkSize?: number;
  /** Longest line accepted, in bytes (default 16 MiB). */
  maxLineBytes?: number;
}

/** Default {@link ScanOptions.maxMatches}. */
export const DEFAULT_MAX_MATCHES = 10_000;

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Sorted, distinct starts of the lines in `buf[0, end)` that contain one of `seqs`, or null. */
function exoticLines(buf: Uint8Array, end: number, seqs: Uint8Array[]): number[] | null {
  let out: number[] | null = null;
  for (const seq of seqs) {
    let i = findSeq(buf, seq, 0, end);
    while (i >= 0) {
      const lineStart = i === 0 ? 0 : buf.lastIndexOf(10, i - 1) + 1;
      (out ??= []).push(lineStart);
      const next = buf.indexOf(10, i);
      if (next < 0 || next >= end) break;
      i = findSeq(buf, seq, next + 1, end);
    }
  }
  if (out === null || seqs.length === 1) return out;
  out.sort((a, b) => a - b);
  return out.filter((v, k) => k === 0 || out[k - 1] !== v);
}

/**
 * Earliest occurrence of any needle in `buf[pos, end)`, or -1. `next` caches
 * each needle's next occurrence (-2: unknown, -1: none left).
 */
function findAny(
  needles: ByteNeedle[],
  next: number[],
  buf: Uint8Array,
  pos: number,
  end: number,
): number {
  let best = -1;
  for (let k = 0; k < needles.length; k++) {
    let at = next[k];
    if (at === -2 || (at >= 0 && at < pos)) at = next[k] = needles[k].find(buf, pos, end);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

/** Matching state of one file, fed line-aligned regions of bytes. */
class FileScan {
  linesBefore = 0;
  count = 0;
  readonly #words: { buf: Uint8Array; view: Uint32Array } = {
    buf: new Uint8Array(0),
    view: new Uint32Array(0),
  };

  constructor(
    readonly file: string,
    readonly ctx: ScanContext,
  ) {}

  /**
   * Scans `buf[0, end)`, which holds whole lines (the last one may lack its
   * newline when `final`). Returns false when the scan must stop.
   */
  region(buf: Uint8Array, end: number, final: boolean): boolean {
    const m = this.ctx.compiled.matcher;
    if (m.kind === "regex") {
      const req = this.ctx.required;
      if (req && req.find(buf, 0, end) < 0) {
        if (!this.ctx.counting) this.linesBefore += countNewlines(buf, this.#view(buf), 0, end);
        return true;
      }
      return m.byteSafe ? this.#latin1(buf, end, m.re) : this.#regex(buf, end, final, m.re);
    }
    const cands = m.fallback ? exoticLines(buf, end, m.exotic) : null;
    return this.#bytes(buf, end, this.ctx.needles, cands, m.fallback);
  }

  #view(buf: Uint8Array): Uint32Array {
    if (this.#words.buf !== buf) {
      this.#words.buf = buf;
      this.#words.view = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
    }
    return this.#words.view;
  }

  #counted = 0;

  /** Records the matching line `[lineStart, lineEnd)`; false once the scan must stop. */
  #emit(buf: Uint8Array, lineStart: number, lineEnd: number, text: string | null): boolean {
    this.count++;
    if (this.ctx.counting) return true;
    this.linesBefore += countNewlines(buf, this.#view(buf), this.#counted, lineStart);
    this.#counted = lineStart;
    return this.ctx.push({
      file: this.file,
      line: this.linesBefore + 1,
      text: text ?? decoder.decode(buf.subarray(lineStart, lineEnd)),
    });
  }

  /** Checks one line that holds a non-ASCII case counterpart with the exact matcher. */
  #tryLine(buf: Uint8Array, end: number, lineStart: number, re: RegExp): boolean {
    let lineEnd = buf.indexOf(10, lineStart);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const text = decoder.decode(buf.subarray(lineStart, lineEnd));
    re.lastIndex = 0;
    return re.test(text) ? this.#emit(buf, lineStart, lineEnd, text) : true;
  }

  /**
   * Byte search. `cands` (sorted line starts) are lines the byte search may
   * miss because they hold a non-ASCII case counterpart; `fallback` checks them.
   */
  #bytes(
    buf: Uint8Array,
    end: number,
    needles: ByteNeedle[],
    cands: number[] | null,
    fallback: RegExp | null,
  ): boolean {
    const single = needles.length === 1 ? needles[0] : null;
    const next = single ? null : new Array<number>(needles.length).fill(-2);
    this.#counted = 0;
    let ci = 0;
    let pos = 0;
    while (pos < end) {
      const p = single ? single.find(buf, pos, end) : findAny(needles, next!, buf, pos, end);
      const lineStart = p < 0 ? end : p === 0 ? 0 : buf.lastIndexOf(10, p - 1) + 1;
      if (cands !== null && fallback !== null) {
        while (ci < cands.length && cands[ci] < lineStart) {
          if (!this.#tryLine(buf, end, cands[ci++], fallback)) return false;
        }
        if (ci < cands.length && cands[ci] === lineStart) ci++;
      }
      if (p < 0) break;
      let lineEnd = buf.indexOf(10, p);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      if (!this.#emit(buf, lineStart, lineEnd, null)) return false;
      pos = lineEnd + 1;
    }
    if (cands !== null && fallback !== null) {
      while (ci < cands.length) {
        if (!this.#tryLine(buf, end, cands[ci++], fallback)) return false;
      }
    }
    if (!this.ctx.counting) {
      this.linesBefore += countNewlines(buf, this.#view(buf), this.#counted, end);
    }
    return true;
  }

  /** Runs a byte-safe RegExp over the region decoded one character per byte. */
  #latin1(buf: Uint8Array, end: number, re: RegExp): boolean {
    const s = Buffer.from(buf.buffer, buf.byteOffset, end).toString("latin1", 0, end);
    this.#counted = 0;
    re.lastIndex = 0;
    for (;;) {
      const hit = re.exec(s);
      if (hit === null) break;
      const p = hit.index;
      if (p >= end && !(p === end && end > 0 && buf[end - 1] !== 10)) break;
      const lineStart = p === 0 ? 0 : buf.lastIndexOf(10, p - 1) + 1;
      let lineEnd = buf.indexOf(10, p);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      if (!this.#emit(buf, lineStart, lineEnd, null)) return false;
      if (lineEnd >= end) break;
      re.lastIndex = lineEnd + 1;
    }
    if (!this.ctx.counting) {
      this.linesBefore += countNewlines(buf, this.#view(buf), this.#counted, end);
    }
    return true;
  }

  #regex(buf: Uint8Array, end: number, final: boolean, re: RegExp): boolean {
    const ctx = this.ctx;
    const s = decoder.decode(buf.subarray(0, end));
    const lastLineOpen = final && s.length > 0 && s.charCodeAt(s.length - 1) !== 10;
    let base = this.linesBefore;
    let counted = 0;
    re.lastIndex = 0;
    for (;;) {
      const hit = re.exec(s);
      if (hit === null) break;
      const p = hit.index;
      if (p >= s.length && !(p === s.length && lastLineOpen)) break;
      if (p > 0 && isLowSurrogate(s.charCodeAt(p)) && isHighSurrogate(s.charCodeAt(p - 1))) {
        // V8 can report an empty match inside a surrogate pair; no line starts there.
        re.lastIndex = p + 1;
        continue;
      }
      const lineStart = p === 0 ? 0 : s.lastIndexOf("\n", p - 1) + 1;
      let lineEnd = s.indexOf("\n", p);
      if (lineEnd < 0) lineEnd = s.length;
      this.count++;
      if (!ctx.counting) {
        let i = s.indexOf("\n", counted);
        while (i >= 0 && i < lineStart) {
          base++;
          i = s.indexOf("\n", i + 1);
        }
        counted = lineStart;
        if (!ctx.push({ file: this.file, line: base + 1, text: s.slice(lineStart, lineEnd) })) {
          return false;
        }
      }
      if (lineEnd >= s.length) break;
      re.lastIndex = lineEnd + 1;
    }
    if (!ctx.counting) this.linesBefore += countNewlines(buf, this.#view(buf), 0, end);
    return true;
  }
}

/** Shared state of one scan across files. */
class ScanContext {
  readonly matches: LogMatch[] = [];
  readonly counting: boolean;
  readonly needles: ByteNeedle[];
  readonly required: ByteNeedle | null;
  truncatedBy: "deadline" | "maxMatches" | undefined;

  constructor(readonly compiled: CompiledPattern, readonly maxMatches: number) {
    this.counting = compiled.request.count;
    const m = compiled.matcher;
    this.needles = m.kind === "bytes" ? m.needles.map((n) => new ByteNeedle(n, m.fold)) : [];
    this.required = m.kind === "regex" && m.required
      ? new ByteNeedle(m.required, m.requiredFold)
      : null;
  }

  /** Adds a match; false (and truncated) once past `maxMatches`. */
  push(match: LogMatch): boolean {
    if (this.matches.length >= this.maxMatches) {
      this.truncatedBy = "maxMatches";
      return false;
    }
    this.matches.push(match);
    return true;
  }
}

function positiveInt(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 0) {
    throw new ElasticoreError("logs_bad_request", `${name} must be a non-negative integer`);
  }
  return v;
}

/**
 * Scans one in-memory buffer as a whole file (used by tests and fuzzing).
 * Same semantics as {@link scanLogs}; no deadline.
 */
export function scanBytes(
  bytes: Uint8Array,
  request: GrepRequest | CompiledPattern,
  opts: { file?: string; maxMatches?: number } = {},
): ScanResult {
  const compiled = "matcher" in request ? request : compilePattern(request);
  const ctx = new ScanContext(
    compiled,
    positiveInt(opts.maxMatches, DEFAULT_MAX_MATCHES, "maxMatches"),
  );
  const file = opts.file ?? "<buffer>";
  const fs = new FileScan(file, ctx);
  const padded = new Uint8Array((bytes.length + 4) & ~3);
  padded.set(bytes);
  fs.region(padded, bytes.length, true);
  return finish(ctx, [fs], 1, bytes.length, []);
}

function finish(
  ctx: ScanContext,
  scans: FileScan[],
  filesScanned: number,
  bytesScanned: number,
  errors: ScanFileError[],
): ScanResult {
  return {
    matches: ctx.counting ? [] : ctx.matches,
    counts: ctx.counting ? scans.map((f) => ({ file: f.file, count: f.count })) : [],
    truncated: ctx.truncatedBy !== undefined,
    ...(ctx.truncatedBy ? { truncatedBy: ctx.truncatedBy } : {}),
    filesScanned,
    bytesScanned,
    errors,
  };
}

/**
 * Scans `files` in order for `request` (a {@link GrepRequest} or one already
 * compiled). Throws `ElasticoreError` for a rejected pattern or bad options;
 * unreadable files are reported in `errors` and skipped.
 */
export async function scanLogs(
  files: readonly string[],
  request: GrepRequest | CompiledPattern,
  opts: ScanOptions = {},
): Promise<ScanResult> {
  const compiled = "matcher" in request ? request : compilePattern(request);
  const ctx = new ScanContext(
    compiled,
    positiveInt(opts.maxMatches, DEFAULT_MAX_MATCHES, "maxMatches"),
  );
  const now = opts.now ?? Date.now;
  const deadline = opts.deadline ?? Infinity;
  const chunk = Math.max(4096, positiveInt(opts.chunkSize, 1 << 20, "chunkSize")) & ~3;
  const maxLine = Math.max(chunk, positiveInt(opts.maxLineBytes, 16 << 20, "maxLineBytes"));
  let buf = new Uint8Array(chunk * 2);
  const scans: FileScan[] = [];
  const errors: ScanFileError[] = [];
  let bytes = 0;
  let scanned = 0;
  let reads = 0;
  for (const file of files) {
    if (now() >= deadline) {
      ctx.truncatedBy = "deadline";
      break;
    }
    let fh: Deno.FsFile;
    try {
      fh = await Deno.open(file, { read: true });
    } catch (e) {
      const missing = e instanceof Deno.errors.NotFound;
      errors.push({
        file,
        code: missing ? "logs_file_missing" : "logs_file_unreadable",
        message: e instanceof Error ? e.message : String(e),
      });
      continue;
    }
    const fs = new FileScan(file, ctx);
    scans.push(fs);
    scanned++;
    try {
      let carry = 0;
      for (;;) {
        if (buf.length - carry < chunk) {
          if (buf.length >= maxLine * 2) {
            throw new ElasticoreError(
              "logs_line_too_long",
              `${file}: line ${fs.linesBefore + 1} is longer than ${maxLine} bytes`,
            );
          }
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf.subarray(0, carry));
          buf = bigger;
        }
        // Synchronous reads from the page cache avoid a thread-pool round trip
        // per chunk; every 4th read is asynchronous so the event loop still runs.
        const into = buf.subarray(carry, carry + chunk);
        const n = (++reads & 3) === 0 ? await fh.read(into) : fh.readSync(into);
        if (n === null) {
          if (carry > 0) fs.region(buf, carry, true);
          break;
        }
        bytes += n;
        const valid = carry + n;
        const lastNl = buf.lastIndexOf(10, valid - 1);
        if (lastNl < 0) {
          carry = valid;
          continue;
        }
        if (!fs.region(buf, lastNl + 1, false)) break;
        buf.copyWithin(0, lastNl + 1, valid);
        carry = valid - lastNl - 1;
        if (now() >= deadline) {
          ctx.truncatedBy = "deadline";
          break;
        }
      }
    } finally {
      fh.close();
    }
    if (ctx.truncatedBy) break;
  }
  return finish(ctx, scans, scanned, bytes, errors);
}
