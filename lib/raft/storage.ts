/**
 * Raft persistence over a simple key-value disk (the simulator's `SimDisk`,
 * or any store with the same five operations): the hard state, the latest
 * snapshot and one key per entry. Writes become durable at `sync()`; a shell
 * syncs after saving a Ready and before sending its messages.
 *
 * @module
 */
import type { Entry, HardState, Ready, Snapshot, StorageState } from "./types.ts";
import { NONE } from "./types.ts";

/** The disk operations Raft storage needs. */
export interface KeyValueDisk {
  /** Writes a value (durable after `sync`). */
  write(key: string, value: unknown): void;
  /** Deletes a key (durable after `sync`). */
  delete(key: string): void;
  /** Reads a value. */
  read(key: string): unknown;
  /** Sorted keys with a prefix. */
  keys(prefix: string): string[];
  /** Makes every write durable. */
  sync(): void;
}

const HS = "raft/hs";
const SNAP = "raft/snap";
const ENT = "raft/e/";

function entryKey(i: number): string {
  return ENT + String(i).padStart(15, "0");
}

/** Persists Readies and compactions; loads the state a core restarts from. */
export class RaftDiskStorage {
  readonly #disk: KeyValueDisk;
  #first = 1;
  #last = 0;

  /** Opens storage on `disk`, scanning what is there. */
  constructor(disk: KeyValueDisk) {
    this.#disk = disk;
    const snap = disk.read(SNAP) as Snapshot | undefined;
    const keys = disk.keys(ENT);
    this.#first = (snap?.index ?? 0) + 1;
    this.#last = snap?.index ?? 0;
    for (const k of keys) {
      const i = Number(k.slice(ENT.length));
      if (i > this.#last) this.#last = i;
    }
  }

  /** Writes the initial state of a brand-new node: an index-0 snapshot with `conf`. */
  bootstrap(voters: string[], learners: string[] = []): void {
    const snap: Snapshot = { index: 0, term: 0, voters, learners, data: new Uint8Array(0) };
    this.#disk.write(SNAP, snap);
    this.#disk.write(HS, { term: 0, vote: NONE, commit: 0 } satisfies HardState);
    this.#disk.sync();
  }

  /** True if the disk holds a Raft state. */
  initialized(): boolean {
    return this.#disk.read(SNAP) !== undefined;
  }

  /** The persisted state (contiguous entries after the snapshot). */
  load(): StorageState {
    const snapshot = (this.#disk.read(SNAP) as Snapshot | undefined) ??
      { index: 0, term: 0, voters: [], learners: [], data: new Uint8Array(0) };
    const hardState = (this.#disk.read(HS) as HardState | undefined) ??
      { term: 0, vote: NONE, commit: 0 };
    const entries: Entry[] = [];
    for (let i = snapshot.index + 1;; i++) {
      const e = this.#disk.read(entryKey(i)) as Entry | undefined;
      if (!e) break;
      entries.push(e);
    }
    return { hardState, snapshot, entries };
  }

  /** Writes what `rd` asks to persist (not yet synced). Returns true if anything was written. */
  save(rd: Ready): boolean {
    let wrote = false;
    if (rd.snapshot) {
      this.#disk.write(SNAP, rd.snapshot);
      for (let i = this.#first; i <= this.#last; i++) this.#disk.delete(entryKey(i));
      this.#first = rd.snapshot.index + 1;
      this.#last = rd.snapshot.index;
      wrote = true;
    }
    if (rd.entries.length > 0) {
      const from = rd.entries[0].index;
      const to = rd.entries[rd.entries.length - 1].index;
      for (let i = to + 1; i <= this.#last; i++) this.#disk.delete(entryKey(i));
      for (const e of rd.entries) this.#disk.write(entryKey(e.index), e);
      this.#last = to;
      if (from < this.#first) this.#first = from;
      wrote = true;
    }
    if (rd.hardState) {
      this.#disk.write(HS, rd.hardState);
      wrote = true;
    }
    return wrote;
  }

  /** Persists a snapshot made by compaction and drops the entries it covers. */
  compact(snap: Snapshot): void {
    this.#disk.write(SNAP, snap);
    const upTo = Math.min(snap.index, this.#last);
    for (let i = this.#first; i <= upTo; i++) this.#disk.delete(entryKey(i));
    this.#first = snap.index + 1;
    if (this.#last < snap.index) this.#last = snap.index;
  }

  /** Makes every write durable. */
  sync(): void {
    this.#disk.sync();
  }
}
