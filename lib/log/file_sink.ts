/**
 * A logtape sink that appends formatted records to `<dir>/<base>.jsonl` and
 * rotates it by size and age.
 *
 * Logging never waits for the disk: a record is formatted and buffered in
 * memory; the buffer is written with `writeSync` when it reaches
 * `bufferBytes`, every `flushIntervalMs`, on {@link RotatingFileSink.flush}
 * and on dispose. The current file never grows past `maxBytes` (unless a
 * single record is larger); a file older than `maxAgeMs` is rotated at the
 * next flush. A rotated file is renamed `<base>-<rotation time>.jsonl` (time as
 * `2025-01-02T03-04-05.678Z`, so names sort by age) and only the newest
 * `filesKept` rotated files are kept.
 *
 * @module
 */
import type { LogRecord, Sink } from "@logtape/logtape";
import { join } from "node:path";

/** Options of {@link getRotatingFileSink}. */
export interface RotatingFileSinkOptions {
  /** Directory of the log files; created when missing. */
  dir: string;
  /** Formats one record as a complete line, newline included. */
  format: (record: LogRecord) => string;
  /** Rotate before the current file would exceed this many bytes. */
  maxBytes: number;
  /** Rotate a file once it is this old (ms); 0 disables rotation by age. */
  maxAgeMs: number;
  /** How many rotated files to keep. */
  filesKept: number;
  /** File name stem; default `node`. */
  baseName?: string;
  /** Flush when this many bytes are buffered; default 64 KiB. */
  bufferBytes?: number;
  /** Flush at least this often (ms); default 250. */
  flushIntervalMs?: number;
  /** Clock, for tests; default `Date.now`. */
  now?: () => number;
  /** Called when writing fails (the buffered records are dropped); default: one line on stderr. */
  onError?: (error: unknown) => void;
}

/** The sink: a logtape `Sink` that can be flushed and disposed. */
export interface RotatingFileSink extends Sink, Disposable {
  /** Writes the buffered records now. */
  flush(): void;
  /** Path of the current file. */
  readonly path: string;
}

/** The name a file rotated at `ms` gets: `<base>-2025-01-02T03-04-05.678Z.jsonl`. */
export function rotatedName(base: string, ms: number): string {
  return `${base}-${new Date(ms).toISOString().replaceAll(":", "-")}.jsonl`;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Creates a rotating JSON-lines file sink; see the module docs. */
export function getRotatingFileSink(opts: RotatingFileSinkOptions): RotatingFileSink {
  const base = opts.baseName ?? "node";
  const path = join(opts.dir, `${base}.jsonl`);
  const now = opts.now ?? Date.now;
  const bufferBytes = opts.bufferBytes ?? 65536;
  const rotatedRe = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-.+\\.jsonl$`);
  const encoder = new TextEncoder();
  const onError = opts.onError ?? ((e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    try {
      Deno.stderr.writeSync(encoder.encode(`elasticore: writing ${path} failed: ${msg}\n`));
    } catch {
      // stderr is gone too: nothing left to tell.
    }
  });

  let file: Deno.FsFile | undefined;
  let size = 0;
  let openedAt = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let closed = false;
  let lastRotation = 0;
  let failing = false;

  const open = (): Deno.FsFile => {
    if (file) return file;
    Deno.mkdirSync(opts.dir, { recursive: true });
    const f = Deno.openSync(path, { append: true, create: true });
    const st = f.statSync();
    size = st.size;
    openedAt = size > 0 ? st.birthtime?.getTime() ?? now() : now();
    file = f;
    return f;
  };

  const prune = () => {
    const old: string[] = [];
    for (const e of Deno.readDirSync(opts.dir)) {
      if (e.isFile && rotatedRe.test(e.name)) old.push(e.name);
    }
    old.sort();
    for (const name of old.slice(0, Math.max(0, old.length - opts.filesKept))) {
      Deno.removeSync(join(opts.dir, name));
    }
  };

  const rotate = () => {
    file?.close();
    file = undefined;
    let ms = Math.max(now(), lastRotation + 1);
    while (exists(join(opts.dir, rotatedName(base, ms)))) ms++;
    lastRotation = ms;
    Deno.renameSync(path, join(opts.dir, rotatedName(base, ms)));
    prune();
  };

  const flush = () => {
    if (pending.length === 0 && !(opts.maxAgeMs > 0 && file && size > 0)) return;
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    try {
      let f = open();
      if (opts.maxAgeMs > 0 && size > 0 && now() - openedAt >= opts.maxAgeMs) {
        rotate();
        f = open();
      }
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      for (const c of chunks) {
        if (size + batchBytes > 0 && size + batchBytes + c.length > opts.maxBytes) {
          if (batchBytes > 0) writeAll(f, concat(batch, batchBytes));
          size += batchBytes;
          batch = [];
          batchBytes = 0;
          rotate();
          f = open();
        }
        batch.push(c);
        batchBytes += c.length;
      }
      if (batchBytes > 0) writeAll(f, concat(batch, batchBytes));
      size += batchBytes;
      failing = false;
    } catch (e) {
      try {
        file?.close();
      } catch {
        // Already closed.
      }
      file = undefined;
      if (!failing) onError(e);
      failing = true;
    }
  };

  const timer = setInterval(flush, opts.flushIntervalMs ?? 250);
  Deno.unrefTimer(timer);

  const sink = (record: LogRecord): void => {
    if (closed) return;
    const bytes = encoder.encode(opts.format(record));
    pending.push(bytes);
    pendingBytes += bytes.length;
    if (pendingBytes >= bufferBytes) flush();
  };
  return Object.assign(sink, {
    flush,
    path,
    [Symbol.dispose]: () => {
      if (closed) return;
      clearInterval(timer);
      flush();
      closed = true;
      file?.close();
      file = undefined;
    },
  });
}
