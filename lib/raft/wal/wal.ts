/**
 * The Raft write-ahead log on disk: entries, hard state and snapshot markers
 * appended to segment files and made durable with one `fdatasync` per batch
 * (group commit: every append queued while a sync runs rides the next one).
 * Nothing resolves before its bytes are synced. Snapshots are written to their
 * own file atomically (temp file, sync, rename, directory sync); compaction
 * (the only time a new segment starts) begins a new segment holding the
 * snapshot marker, the hard state and the entries after the snapshot, then
 * deletes the older segments. Appends go on while the snapshot file is
 * written: whatever they make durable meanwhile is written again into the
 * new segment, after the marker, before the old segments go.
 *
 * @module
 */
import { join } from "node:path";
import { ElasticoreError } from "../../errors.ts";
import { crc32 } from "./crc32.ts";
import { encodeRecord, scanRecords, type WalEntry, type WalHardState } from "./records.ts";

/** A snapshot as the WAL stores it. */
export interface WalSnapshot {
  /** Last log index the snapshot covers. */
  index: number;
  /** Term of that entry. */
  term: number;
  /** The state machine image (and whatever metadata the caller needs). */
  data: Uint8Array;
}

/** What a WAL holds after replay. */
export interface WalState {
  /** Last durable hard state. */
  hardState: WalHardState;
  /** Newest snapshot, if any. */
  snapshot?: WalSnapshot;
  /** Entries after the snapshot, contiguous. */
  entries: WalEntry[];
}

/** Counters for metrics and benchmarks. */
export interface WalStats {
  /** `fdatasync` calls. */
  syncs: number;
  /** Records appended. */
  records: number;
  /** Bytes appended. */
  bytes: number;
}

interface Pending {
  bytes: Uint8Array;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const SEGMENT_RE = /^wal-(\d{10})\.log$/;
const SNAPSHOT_RE = /^snap-(\d{16})\.snap$/;

function segmentName(seq: number): string {
  return `wal-${String(seq).padStart(10, "0")}.log`;
}
function snapshotName(index: number): string {
  return `snap-${String(index).padStart(16, "0")}.snap`;
}

/** A durable, group-committed Raft log in one directory. */
export class Wal {
  readonly #dir: string;
  #file: Deno.FsFile;
  #seq: number;
  #pending: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;
  /** The tail of the chain of snapshot saves (they run one at a time). */
  #snapshots: Promise<void> = Promise.resolve();
  /** Per snapshot save in progress: every batch made durable since it was asked for. */
  #carries = new Set<Uint8Array[]>();
  /** A segment switch for the flush loop to run before its next batch. */
  #switch: (() => Promise<void>) | null = null;
  /** Counters. */
  readonly stats: WalStats = { syncs: 0, records: 0, bytes: 0 };

  private constructor(dir: string, file: Deno.FsFile, seq: number) {
    this.#dir = dir;
    this.#file = file;
    this.#seq = seq;
  }

  /** Opens (or creates) the WAL in `dir` and replays it. */
  static async open(dir: string): Promise<{ wal: Wal; state: WalState }> {
    await Deno.mkdir(dir, { recursive: true });
    const segments: number[] = [];
    for await (const e of Deno.readDir(dir)) {
      const m = SEGMENT_RE.exec(e.name);
      if (e.isFile && m) segments.push(Number(m[1]));
      if (e.isFile && e.name.endsWith(".tmp")) await Deno.remove(join(dir, e.name));
    }
    segments.sort((a, b) => a - b);
    const state: WalState = { hardState: { term: 0, vote: "", commit: 0 }, entries: [] };
    let snapIndex = 0;
    for (let i = 0; i < segments.length; i++) {
      const path = join(dir, segmentName(segments[i]));
      const buf = await Deno.readFile(path);
      const scan = scanRecords(buf);
      if (scan.stop) {
        const last = i === segments.length - 1;
        if (scan.stop.kind === "corrupt" || !last) {
          throw new ElasticoreError(
            "wal_corrupt",
            `write-ahead log ${path} is corrupt at byte ${scan.stop.offset} (${scan.stop.reason})`,
            { hint: "restore this node from a peer: remove its raft directory and re-add it" },
          );
        }
        // A torn tail: a write that never completed its sync. Cut it off.
        await Deno.truncate(path, scan.validBytes);
      }
      for (const rec of scan.records) {
        if (rec.type === "hardstate") state.hardState = rec.state;
        else if (rec.type === "snapshot") {
          snapIndex = rec.index;
          state.snapshot = await readSnapshot(dir, rec.index, rec.term);
          state.entries = state.entries.filter((e) => e.index > rec.index);
        } else {
          for (const e of rec.entries) {
            if (e.index <= snapIndex) continue;
            // A later write at index i replaces everything from i on (conflict truncation).
            const first = state.entries.length ? state.entries[0].index : e.index;
            const keep = e.index - first;
            if (keep < 0 || keep > state.entries.length) {
              throw new ElasticoreError(
                "wal_corrupt",
                `write-ahead log in ${dir} has a gap before entry ${e.index}`,
              );
            }
            state.entries.length = keep;
            state.entries.push(e);
          }
        }
      }
    }
    if (state.entries.length && state.entries[0].index !== snapIndex + 1) {
      throw new ElasticoreError(
        "wal_corrupt",
        `write-ahead log in ${dir} starts at entry ${state.entries[0].index}, expected ${
          snapIndex + 1
        }`,
      );
    }
    const seq = segments.length ? segments[segments.length - 1] : 1;
    const path = join(dir, segmentName(seq));
    const file = await Deno.open(path, { create: true, append: true });
    if (!segments.length) await syncDir(dir);
    return { wal: new Wal(dir, file, seq), state };
  }

  /**
   * Appends entries and/or a hard state; resolves once they are durable.
   * Concurrent calls share one sync.
   */
  append(rec: { entries?: WalEntry[]; hardState?: WalHardState }): Promise<void> {
    const parts: Uint8Array[] = [];
    if (rec.entries?.length) parts.push(encodeRecord({ type: "entries", entries: rec.entries }));
    if (rec.hardState) parts.push(encodeRecord({ type: "hardstate", state: rec.hardState }));
    if (!parts.length) return Promise.resolve();
    return this.#enqueue(parts.length === 1 ? parts[0] : concat(parts));
  }

  #enqueue(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new ElasticoreError("wal_closed", "WAL is closed"));
    this.stats.records++;
    return new Promise((resolve, reject) => {
      this.#pending.push({ bytes, resolve, reject });
      if (!this.#flushing) this.#flushing = this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#pending.length || this.#switch) {
        if (this.#switch) {
          const run = this.#switch;
          this.#switch = null;
          await run();
          continue;
        }
        const batch = this.#pending;
        this.#pending = [];
        try {
          const bytes = concat(batch.map((p) => p.bytes));
          await writeAll(this.#file, bytes);
          await this.#file.syncData();
          this.stats.bytes += bytes.length;
          this.stats.syncs++;
          for (const carry of this.#carries) carry.push(bytes);
          for (const p of batch) p.resolve();
        } catch (e) {
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.#flushing = null;
    }
  }

  /** Waits until every queued append is durable. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /**
   * Stores a snapshot and compacts: a new segment starts with the snapshot
   * marker, `hardState` and `retained` (the entries after `snap.index`), and
   * older segments and snapshots are deleted once that is durable. Appends
   * made meanwhile stay durable throughout (see the module documentation);
   * snapshot saves run one at a time, in call order.
   */
  saveSnapshot(snap: WalSnapshot, hardState: WalHardState, retained: WalEntry[]): Promise<void> {
    if (this.#closed) return Promise.reject(new ElasticoreError("wal_closed", "WAL is closed"));
    const carry: Uint8Array[] = [];
    this.#carries.add(carry);
    const run = this.#snapshots.then(() => this.#saveSnapshot(snap, hardState, retained, carry))
      .finally(() => this.#carries.delete(carry));
    this.#snapshots = run.catch(() => {});
    return run;
  }

  async #saveSnapshot(
    snap: WalSnapshot,
    hardState: WalHardState,
    retained: WalEntry[],
    carry: Uint8Array[],
  ): Promise<void> {
    await writeSnapshot(this.#dir, snap);
    const parts = [
      encodeRecord({ type: "snapshot", index: snap.index, term: snap.term }),
      encodeRecord({ type: "hardstate", state: hardState }),
    ];
    if (retained.length) parts.push(encodeRecord({ type: "entries", entries: retained }));
    const switched = Promise.withResolvers<void>();
    // The flush loop runs the switch between two batches, so no append can
    // land in the old segment after its durable tail was carried over.
    this.#switch = () => {
      this.#carries.delete(carry);
      return this.#startSegment([...parts, ...carry]).then(switched.resolve, switched.reject);
    };
    if (!this.#flushing) this.#flushing = this.#flushLoop();
    await switched.promise;
    await syncDir(this.#dir);
    for await (const e of Deno.readDir(this.#dir)) {
      const seg = SEGMENT_RE.exec(e.name);
      const sn = SNAPSHOT_RE.exec(e.name);
      if ((seg && Number(seg[1]) < this.#seq) || (sn && Number(sn[1]) < snap.index)) {
        await Deno.remove(join(this.#dir, e.name));
      }
    }
  }

  /** Opens the next segment and makes `parts` durable in it. */
  async #startSegment(parts: Uint8Array[]): Promise<void> {
    const bytes = concat(parts);
    this.#file.close();
    this.#seq++;
    this.#file = await Deno.open(join(this.#dir, segmentName(this.#seq)), {
      create: true,
      append: true,
    });
    this.stats.records++;
    await writeAll(this.#file, bytes);
    await this.#file.syncData();
    this.stats.bytes += bytes.length;
    this.stats.syncs++;
  }

  /** Closes the WAL after flushing. */
  async close(): Promise<void> {
    await this.#snapshots;
    await this.flush();
    this.#closed = true;
    this.#file.close();
  }
}

async function writeSnapshot(dir: string, snap: WalSnapshot): Promise<void> {
  const final = join(dir, snapshotName(snap.index));
  const tmp = final + ".tmp";
  const header = new Uint8Array(24);
  const dv = new DataView(header.buffer);
  dv.setFloat64(0, snap.index);
  dv.setFloat64(8, snap.term);
  dv.setUint32(16, snap.data.length);
  dv.setUint32(20, crc32(snap.data, crc32(header.subarray(0, 20))));
  const f = await Deno.open(tmp, { create: true, write: true, truncate: true });
  try {
    await writeAll(f, header);
    await writeAll(f, snap.data);
    await f.syncData();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, final);
  await syncDir(dir);
}

async function readSnapshot(dir: string, index: number, term: number): Promise<WalSnapshot> {
  const path = join(dir, snapshotName(index));
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(path);
  } catch {
    throw new ElasticoreError("wal_corrupt", `snapshot ${path} named by the log is missing`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const ok = buf.length >= 24 && dv.getFloat64(0) === index && dv.getFloat64(8) === term &&
    dv.getUint32(16) === buf.length - 24 &&
    dv.getUint32(20) === crc32(buf.subarray(24), crc32(buf.subarray(0, 20)));
  if (!ok) throw new ElasticoreError("wal_corrupt", `snapshot ${path} fails its checksum`);
  return { index, term, data: buf.slice(24) };
}

async function syncDir(dir: string): Promise<void> {
  // Persist directory entries (new or renamed files). Not supported on every OS.
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Windows cannot open directories; rename durability is the OS's there.
  }
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
