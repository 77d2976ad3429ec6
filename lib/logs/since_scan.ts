/**
 * `logs grep --since T` over a node's files: the scanner of `./scanner.ts`
 * plus a time filter on the `ts` field of lines.
 *
 * A file's time range is the `ts` of its first and of its last line (log
 * files are written in time order). A file that ends before `since` is
 * skipped unread; a file that starts at or after `since` is scanned whole by
 * {@link scanLogs} (every line counts, even one without a `ts`); a file whose
 * range straddles `since`, or whose first or last line has no readable `ts`,
 * is scanned in line-aligned chunks with {@link scanBytes} and each matching
 * line is kept only if its own `ts` is at or after `since` (lines without a
 * `ts` are dropped there). Line numbers are always the line's number in its
 * file, as `grep -n` prints them.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { lineTs } from "./lines.ts";
import { type CompiledPattern, compilePattern } from "./pattern.ts";
import {
  type FileCount,
  type LogMatch,
  scanBytes,
  type ScanFileError,
  scanLogs,
  type ScanResult,
} from "./scanner.ts";

/** Options of {@link scanSince}. */
export interface SinceScanOptions {
  /** Stop (truncated) once `now()` reaches this time. */
  deadline?: number;
  /** Most matching lines returned. */
  maxMatches: number;
  /** Clock (default `Date.now`). */
  now?: () => number;
  /** Read size of straddling files (default 4 MiB). */
  chunkSize?: number;
  /** Longest line accepted in straddling files (default 16 MiB). */
  maxLineBytes?: number;
}

/** The time range of a file: `ts` of its first and last complete lines (undefined: none). */
export interface FileRange {
  /** Bytes in the file when looked at. */
  size: number;
  /** `ts` of the first line. */
  first?: number;
  /** `ts` of the last line. */
  last?: number;
}

const PROBE = 64 * 1024;
const decoder = new TextDecoder();

/** Reads the first and last line times of `file`. */
export async function fileRange(file: string): Promise<FileRange> {
  using fh = await Deno.open(file, { read: true });
  const size = (await fh.stat()).size;
  if (size === 0) return { size };
  const head = new Uint8Array(Math.min(PROBE, size));
  const nHead = await readFully(fh, head, 0);
  const nl = head.subarray(0, nHead).indexOf(10);
  const first = nl < 0 ? undefined : lineTs(decoder.decode(head.subarray(0, nl)));
  const start = Math.max(0, size - PROBE);
  const tail = new Uint8Array(size - start);
  const nTail = await readFully(fh, tail, start);
  let end = nTail;
  if (end > 0 && tail[end - 1] === 10) end--;
  const prev = tail.subarray(0, end).lastIndexOf(10);
  const last = prev < 0 && start > 0
    ? undefined
    : lineTs(decoder.decode(tail.subarray(prev + 1, end)));
  return { size, first, last };
}

async function readFully(fh: Deno.FsFile, buf: Uint8Array, at: number): Promise<number> {
  await fh.seek(at, Deno.SeekMode.Start);
  let n = 0;
  while (n < buf.length) {
    const r = await fh.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return n;
}

function countNewlines(buf: Uint8Array, from: number, end: number): number {
  let n = 0;
  let i = buf.indexOf(10, from);
  while (i >= 0 && i < end) {
    n++;
    i = buf.indexOf(10, i + 1);
  }
  return n;
}

/** Accumulates the per-file results into one {@link ScanResult}. */
class Merged {
  matches: LogMatch[] = [];
  counts: FileCount[] = [];
  errors: ScanFileError[] = [];
  truncatedBy: ScanResult["truncatedBy"];
  filesScanned = 0;
  bytesScanned = 0;

  add(r: ScanResult): void {
    this.matches.push(...r.matches);
    this.counts.push(...r.counts);
    this.errors.push(...r.errors);
    this.filesScanned += r.filesScanned;
    this.bytesScanned += r.bytesScanned;
    if (r.truncatedBy) this.truncatedBy = r.truncatedBy;
  }

  result(): ScanResult {
    return {
      matches: this.matches,
      counts: this.counts,
      truncated: this.truncatedBy !== undefined,
      ...(this.truncatedBy ? { truncatedBy: this.truncatedBy } : {}),
      filesScanned: this.filesScanned,
      bytesScanned: this.bytesScanned,
      errors: this.errors,
    };
  }
}

/**
 * Scans `files` for `compiled`, keeping only lines at or after `since`
 * (epoch ms); see the module docs. Same result shape as {@link scanLogs}.
 */
export async function scanSince(
  files: readonly string[],
  compiled: CompiledPattern,
  since: number,
  opts: SinceScanOptions,
): Promise<ScanResult> {
  const now = opts.now ?? Date.now;
  const deadline = opts.deadline ?? Infinity;
  const out = new Merged();
  for (const file of files) {
    if (now() >= deadline) {
      out.truncatedBy = "deadline";
      break;
    }
    const remaining = opts.maxMatches - out.matches.length;
    let range: FileRange;
    try {
      range = await fileRange(file);
    } catch (e) {
      out.errors.push({
        file,
        code: e instanceof Deno.errors.NotFound ? "logs_file_missing" : "logs_file_unreadable",
        message: e instanceof Error ? e.message : String(e),
      });
      continue;
    }
    if (range.size === 0 || (range.last !== undefined && range.last < since)) continue;
    if (range.first !== undefined && range.first >= since && range.last !== undefined) {
      out.add(await scanLogs([file], compiled, { deadline, maxMatches: remaining, now }));
    } else {
      out.add(await scanStraddling(file, compiled, since, { ...opts, maxMatches: remaining }));
    }
    if (out.truncatedBy) break;
  }
  return out.result();
}

/** Scans one file in chunks, keeping matches whose own `ts` is at or after `since`. */
async function scanStraddling(
  file: string,
  compiled: CompiledPattern,
  since: number,
  opts: SinceScanOptions,
): Promise<ScanResult> {
  const now = opts.now ?? Date.now;
  const deadline = opts.deadline ?? Infinity;
  const counting = compiled.request.count;
  const lines = compilePattern({ ...compiled.request, count: false });
  const chunk = opts.chunkSize ?? 4 << 20;
  const maxLine = opts.maxLineBytes ?? 16 << 20;
  const matches: LogMatch[] = [];
  let count = 0;
  let truncatedBy: ScanResult["truncatedBy"];
  let bytes = 0;
  let linesBefore = 0;
  let fh: Deno.FsFile;
  try {
    fh = await Deno.open(file, { read: true });
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    return {
      matches: [],
      counts: [],
      truncated: false,
      filesScanned: 0,
      bytesScanned: 0,
      errors: [{
        file,
        code: missing ? "logs_file_missing" : "logs_file_unreadable",
        message: e instanceof Error ? e.message : String(e),
      }],
    };
  }
  const keep = (region: Uint8Array): boolean => {
    const r = scanBytes(region, lines, { file, maxMatches: 1 << 30 });
    for (const m of r.matches) {
      const ts = lineTs(m.text);
      if (ts === undefined || ts < since) continue;
      if (counting) {
        count++;
        continue;
      }
      if (matches.length >= opts.maxMatches) {
        truncatedBy = "maxMatches";
        return false;
      }
      matches.push({ file, line: m.line + linesBefore, text: m.text });
    }
    linesBefore += countNewlines(region, 0, region.length);
    return true;
  };
  try {
    let buf = new Uint8Array(chunk * 2);
    let carry = 0;
    for (;;) {
      if (buf.length - carry < chunk) {
        if (buf.length >= maxLine * 2) {
          throw new ElasticoreError(
            "logs_line_too_long",
            `${file}: line ${linesBefore + 1} is longer than ${maxLine} bytes`,
          );
        }
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf.subarray(0, carry));
        buf = bigger;
      }
      const n = await fh.read(buf.subarray(carry, carry + chunk));
      if (n === null) {
        if (carry > 0) keep(buf.subarray(0, carry));
        break;
      }
      bytes += n;
      const valid = carry + n;
      const lastNl = buf.lastIndexOf(10, valid - 1);
      if (lastNl < 0) {
        carry = valid;
        continue;
      }
      if (!keep(buf.subarray(0, lastNl + 1))) break;
      buf.copyWithin(0, lastNl + 1, valid);
      carry = valid - lastNl - 1;
      if (now() >= deadline) {
        truncatedBy = "deadline";
        break;
      }
    }
  } finally {
    fh.close();
  }
  return {
    matches,
    counts: counting ? [{ file, count }] : [],
    truncated: truncatedBy !== undefined,
    ...(truncatedBy ? { truncatedBy } : {}),
    filesScanned: 1,
    bytesScanned: bytes,
    errors: [],
  };
}
