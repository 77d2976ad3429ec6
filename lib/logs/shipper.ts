/**
 * Ships this node's log lines to the cluster log: per-node, per-hour files
 * `/_logs/<node>/<YYYY-MM-DDTHH>.jsonl` (the UTC hour of each line's `ts`),
 * through an injected {@link LogSink} (backed by the DFS client in a node).
 *
 * The shipper tails the local files (`<data_dir>/logs`, oldest first) from a
 * persisted position, `<data_dir>/logs/.shipped`
 * (`{"file","ino","head","offset"}`: the file's inode survives rotation;
 * `head`, its first 64 bytes in hex, tells a reused inode from the same
 * file). It reads
 * at most `maxBatchBytes` of whole lines at a time, splits them into runs of
 * the same hour, and appends each run with one `sink.append`; only after that
 * append succeeded is the position after its last line written (temporary
 * file, fsync, rename). Batches go out every `intervalMs`, or as soon as
 * `maxBatchBytes` are waiting; memory holds one batch. When the sink fails,
 * the same run is retried after an exponential backoff (`backoffBaseMs`
 * doubling up to `backoffMaxMs`). A line without a readable `ts` goes to the
 * hour of the line before it (or the current hour).
 *
 * Guarantee (at least once, duplicates bounded): every line written to a
 * local file that still exists when the shipper reaches it is appended to
 * the cluster log. A line is appended twice only if its run was appended but
 * the position was not persisted (a crash between the two, or an append that
 * the sink applied although it reported a failure); then exactly that one
 * in-flight run (at most `maxBatchBytes`) is appended again. Lines of a file
 * rotated away and pruned before the shipper reached it are lost: shipping
 * restarts at the oldest file still there and
 * `elasticore_logs_ship_resets_total` counts it. A line longer than
 * `maxLineBytes` is skipped and counted in
 * `elasticore_logs_ship_skipped_bytes_total`.
 *
 * @module
 */
import { basename, join } from "node:path";
import { ElasticoreError } from "../errors.ts";
import type { MetricsRegistry } from "../metrics.ts";
import { errorMessage } from "../transport/errors.ts";
import { lineTs } from "./lines.ts";
import { type LogFileInfo, statLogFiles } from "./tail.ts";

/** Where shipped lines go (the lead backs it with the DFS client's append). */
export interface LogSink {
  /** Appends `bytes` to the file at `path`, creating it when missing. */
  append(path: string, bytes: Uint8Array): Promise<void>;
}

/** Options of {@link LogShipper}. */
export interface LogShipperOptions {
  /** This node's id (the directory under `/_logs`). */
  nodeId: string;
  /** The node's data directory. */
  dataDir: string;
  /** Where lines go. */
  sink: LogSink;
  /** Ship at least this often, in ms (default 2000). */
  intervalMs?: number;
  /** Most bytes per batch; a backlog this large ships at once (default 256 KiB). */
  maxBatchBytes?: number;
  /** Longest line shipped (default 16 MiB); longer lines are skipped. */
  maxLineBytes?: number;
  /** First retry delay after a sink failure (default 500 ms). */
  backoffBaseMs?: number;
  /** Longest retry delay (default 30 s). */
  backoffMaxMs?: number;
  /** Metrics registry (optional). */
  metrics?: MetricsRegistry;
  /** Clock for lines without a `ts` (default `Date.now`). */
  now?: () => number;
  /** Told about each sink failure. */
  onError?: (error: unknown) => void;
}

/** The persisted shipping position. */
export interface ShipPosition {
  /** Base name of the file when the position was written. */
  file: string;
  /** Its inode. */
  ino: number;
  /** Hex of its first (up to 64) bytes when the position was written. */
  head: string;
  /** Bytes of it already shipped (always just after a line). */
  offset: number;
}

/** What one {@link LogShipper.ship} pass did. */
export interface ShipStats {
  /** Appends made. */
  appends: number;
  /** Lines shipped. */
  lines: number;
  /** Bytes shipped. */
  bytes: number;
}

/** The cluster-log path of `node`'s lines of the UTC hour of `ms`. */
export function hourPath(node: string, ms: number): string {
  return `/_logs/${node}/${new Date(ms).toISOString().slice(0, 13)}.jsonl`;
}

const STATE_FILE = ".shipped";

function parsePosition(text: string): ShipPosition | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null) return undefined;
    const o = v as Record<string, unknown>;
    const { file, ino, head, offset } = o;
    if (
      typeof file === "string" && typeof head === "string" && typeof ino === "number" &&
      Number.isSafeInteger(ino) && typeof offset === "number" && Number.isSafeInteger(offset) &&
      offset >= 0
    ) {
      return { file, ino, head, offset };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

async function readAt(fh: Deno.FsFile, at: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  await fh.seek(at, Deno.SeekMode.Start);
  let n = 0;
  while (n < len) {
    const r = await fh.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
}

/** Hex of the first (up to 64) bytes of `path` ("" when it is missing or empty). */
async function headOf(path: string): Promise<string> {
  let fh: Deno.FsFile;
  try {
    fh = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
  try {
    const b = await readAt(fh, 0, 64);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  } finally {
    fh.close();
  }
}

/** See the module documentation. */
export class LogShipper {
  readonly #o: Required<Omit<LogShipperOptions, "metrics" | "onError">>;
  readonly #onError?: (error: unknown) => void;
  readonly #logDir: string;
  #pos: ShipPosition | undefined;
  #loaded = false;
  #stopped = true;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #failures = 0;
  #lag = 0;
  #lastMs: number | undefined;
  readonly #m?: {
    bytes: ReturnType<MetricsRegistry["counter"]>;
    lines: ReturnType<MetricsRegistry["counter"]>;
    failures: ReturnType<MetricsRegistry["counter"]>;
    skipped: ReturnType<MetricsRegistry["counter"]>;
    resets: ReturnType<MetricsRegistry["counter"]>;
  };

  /** Creates a shipper; {@link start} runs it, {@link ship} runs one pass. */
  constructor(opts: LogShipperOptions) {
    this.#o = {
      nodeId: opts.nodeId,
      dataDir: opts.dataDir,
      sink: opts.sink,
      intervalMs: opts.intervalMs ?? 2000,
      maxBatchBytes: opts.maxBatchBytes ?? 256 * 1024,
      maxLineBytes: opts.maxLineBytes ?? 16 << 20,
      backoffBaseMs: opts.backoffBaseMs ?? 500,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      now: opts.now ?? Date.now,
    };
    this.#onError = opts.onError;
    this.#logDir = join(opts.dataDir, "logs");
    const m = opts.metrics;
    if (m) {
      this.#m = {
        bytes: m.counter(
          "elasticore_logs_shipped_bytes_total",
          "Log bytes shipped to the cluster log",
        ),
        lines: m.counter(
          "elasticore_logs_shipped_lines_total",
          "Log lines shipped to the cluster log",
        ),
        failures: m.counter(
          "elasticore_logs_ship_failures_total",
          "Failed appends to the cluster log",
        ),
        skipped: m.counter(
          "elasticore_logs_ship_skipped_bytes_total",
          "Log bytes never shipped because their line was too long",
        ),
        resets: m.counter(
          "elasticore_logs_ship_resets_total",
          "Times the shipped file was pruned before it was fully shipped",
        ),
      };
      m.gauge("elasticore_logs_ship_lag_bytes", "Local log bytes not shipped yet", () => [[
        undefined,
        this.#lag,
      ]]);
    }
  }

  /** The current position (after {@link ship} or {@link start} loaded it). */
  get position(): ShipPosition | undefined {
    return this.#pos ? { ...this.#pos } : undefined;
  }

  /** Consecutive sink failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next retry after `failures` consecutive failures. */
  backoffMs(failures: number): number {
    if (failures <= 0) return 0;
    return Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    try {
      this.#pos = parsePosition(await Deno.readTextFile(join(this.#logDir, STATE_FILE)));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    this.#loaded = true;
  }

  async #persist(pos: ShipPosition): Promise<void> {
    await Deno.mkdir(this.#logDir, { recursive: true });
    const tmp = join(this.#logDir, `${STATE_FILE}.tmp`);
    {
      using f = await Deno.open(tmp, { write: true, create: true, truncate: true });
      const data = new TextEncoder().encode(JSON.stringify(pos) + "\n");
      let off = 0;
      while (off < data.length) off += await f.write(data.subarray(off));
      await f.syncData();
    }
    await Deno.rename(tmp, join(this.#logDir, STATE_FILE));
    this.#pos = pos;
  }

  /** Index of the file to ship from, resetting the position when its file is gone. */
  async #locate(files: LogFileInfo[]): Promise<{ idx: number; offset: number; reset: boolean }> {
    const pos = this.#pos;
    if (pos) {
      const idx = files.findIndex((f) => f.ino === pos.ino);
      // Same inode and same first bytes: the same file (maybe renamed by rotation).
      if (idx >= 0 && (await headOf(files[idx].path)).startsWith(pos.head)) {
        // A file shorter than the position was truncated: start it over.
        return { idx, offset: pos.offset <= files[idx].size ? pos.offset : 0, reset: false };
      }
    }
    return { idx: 0, offset: 0, reset: pos !== undefined };
  }

  /** Bytes waiting to be shipped. */
  async backlog(): Promise<number> {
    await this.#load();
    const files = await statLogFiles(this.#o.dataDir);
    if (files.length === 0) return 0;
    const { idx, offset } = await this.#locate(files);
    let n = -offset;
    for (let i = idx; i < files.length; i++) n += files[i].size;
    this.#lag = Math.max(0, n);
    return this.#lag;
  }

  /**
   * Ships everything written so far, batch by batch, persisting the position
   * after each append. Throws the sink's error (the position stays at the
   * last successful append).
   */
  async ship(): Promise<ShipStats> {
    await this.#load();
    const stats: ShipStats = { appends: 0, lines: 0, bytes: 0 };
    for (;;) {
      const files = await statLogFiles(this.#o.dataDir);
      if (files.length === 0) return stats;
      const pos = this.#pos;
      const { idx, offset, reset } = await this.#locate(files);
      if (reset) this.#m?.resets.inc();
      const f = files[idx];
      const final = idx < files.length - 1;
      const head = await headOf(f.path);
      const at = (file: LogFileInfo, h: string, o: number): ShipPosition => ({
        file: basename(file.path),
        ino: file.ino,
        head: h,
        offset: o,
      });
      const batch = await this.#readBatch(f, offset, final);
      if (batch.skipped > 0) {
        this.#m?.skipped.inc(undefined, batch.skipped);
        await this.#persist(at(f, head, batch.end));
        continue;
      }
      if (batch.bytes.length === 0) {
        if (!final) {
          if (!pos || pos.ino !== f.ino || pos.offset !== offset || pos.head !== head) {
            await this.#persist(at(f, head, offset));
          }
          this.#lag = 0;
          return stats;
        }
        const next = files[idx + 1];
        await this.#persist(at(next, await headOf(next.path), 0));
        continue;
      }
      let done = offset;
      for (const run of this.#runs(batch.bytes)) {
        await this.#append(run.path, batch.bytes.subarray(run.from, run.to));
        stats.appends++;
        stats.lines += run.lines;
        stats.bytes += run.to - run.from;
        this.#m?.lines.inc(undefined, run.lines);
        // `batch.end` caps it: a newline added to a last line is not in the file.
        done = Math.min(offset + run.to, batch.end);
        await this.#persist(at(f, head, done));
        if (this.#stopped && this.#loop !== undefined) return stats;
      }
      // Skipped (over-long) lines after the last run.
      if (done < batch.end) await this.#persist(at(f, head, batch.end));
    }
  }

  async #append(path: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#o.sink.append(path, bytes);
    } catch (e) {
      this.#m?.failures.inc();
      throw new ElasticoreError(
        "logs_ship_failed",
        `appending to ${path} failed: ${errorMessage(e)}`,
        { status: 503 },
      );
    }
    this.#m?.bytes.inc(undefined, bytes.length);
  }

  /**
   * Reads whole lines from `offset`: at most `maxBatchBytes`, or one longer
   * line. `end` is the file offset after the last byte consumed.
   */
  async #readBatch(
    f: LogFileInfo,
    offset: number,
    final: boolean,
  ): Promise<{ bytes: Uint8Array; end: number; skipped: number }> {
    const none = { bytes: new Uint8Array(0), end: offset, skipped: 0 };
    let fh: Deno.FsFile;
    try {
      fh = await Deno.open(f.path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return none;
      throw e;
    }
    try {
      const size = final ? (await fh.stat()).size : f.size;
      if (offset >= size) return none;
      let want = Math.min(this.#o.maxBatchBytes, size - offset);
      for (;;) {
        const buf = await readAt(fh, offset, want);
        const nl = buf.lastIndexOf(10);
        if (nl >= 0) {
          return { bytes: buf.subarray(0, nl + 1), end: offset + nl + 1, skipped: 0 };
        }
        const atEnd = offset + buf.length >= size;
        if (atEnd && final && buf.length > 0 && buf.length <= this.#o.maxLineBytes) {
          const withNl = new Uint8Array(buf.length + 1);
          withNl.set(buf);
          withNl[buf.length] = 10;
          return { bytes: withNl, end: offset + buf.length, skipped: 0 };
        }
        if (buf.length >= this.#o.maxLineBytes) {
          const end = await this.#skipLine(fh, offset + buf.length, size);
          return { ...none, end, skipped: end - offset };
        }
        if (atEnd) return none;
        want = Math.min(want * 2, this.#o.maxLineBytes, size - offset);
      }
    } finally {
      fh.close();
    }
  }

  /** The offset after the newline ending the line that continues at `from` (or `size`). */
  async #skipLine(fh: Deno.FsFile, from: number, size: number): Promise<number> {
    let at = from;
    while (at < size) {
      const buf = await readAt(fh, at, Math.min(1 << 20, size - at));
      const nl = buf.indexOf(10);
      if (nl >= 0) return at + nl + 1;
      at += buf.length;
      if (buf.length === 0) break;
    }
    return at;
  }

  /** Splits whole lines into runs of consecutive lines of the same hour. */
  #runs(bytes: Uint8Array): { path: string; from: number; to: number; lines: number }[] {
    const runs: { path: string; from: number; to: number; lines: number }[] = [];
    const dec = new TextDecoder();
    let from = 0;
    let gap = false;
    while (from < bytes.length) {
      let nl = bytes.indexOf(10, from);
      if (nl < 0) nl = bytes.length - 1;
      if (nl + 1 - from > this.#o.maxLineBytes) {
        this.#m?.skipped.inc(undefined, nl + 1 - from);
        from = nl + 1;
        gap = true;
        continue;
      }
      const head = dec.decode(bytes.subarray(from, Math.min(nl, from + 512)));
      let ms = lineTs(head);
      if (ms === undefined && nl - from > 512) ms = lineTs(dec.decode(bytes.subarray(from, nl)));
      ms ??= this.#lastMs ?? this.#o.now();
      this.#lastMs = ms;
      const path = hourPath(this.#o.nodeId, ms);
      const last = runs[runs.length - 1];
      if (last && last.path === path && !gap) {
        last.to = nl + 1;
        last.lines++;
      } else runs.push({ path, from, to: nl + 1, lines: 1 });
      gap = false;
      from = nl + 1;
    }
    return runs;
  }

  /** Starts shipping in the background. */
  start(): void {
    if (this.#loop) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.ship();
        this.#failures = 0;
      } catch (e) {
        this.#failures++;
        this.#onError?.(e);
        if (this.#stopped) break;
        await this.#sleep(this.backoffMs(this.#failures));
        continue;
      }
      // Wait for the interval, or less when a full batch is already waiting.
      const until = Date.now() + this.#o.intervalMs;
      while (!this.#stopped && Date.now() < until) {
        await this.#sleep(Math.min(250, until - Date.now()));
        if (this.#stopped) break;
        try {
          if (await this.backlog() >= this.#o.maxBatchBytes) break;
        } catch (e) {
          this.#onError?.(e);
        }
      }
    }
  }

  /** Stops the background loop; resolves once the append in flight has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
  }
}
