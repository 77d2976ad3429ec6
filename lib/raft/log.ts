/**
 * The Raft log as a core sees it: a snapshot, the entries after it (a stable
 * prefix already persisted and an unstable suffix waiting for the next
 * Ready), the commit index and the applied index. Indexes are numbers and
 * compared as numbers.
 *
 * @module
 */
import { decodeConfEntry } from "./confchange.ts";
import {
  type ConfState,
  type Entry,
  entrySize,
  RaftInvariantError,
  type Snapshot,
  type StorageState,
} from "./types.ts";

/** The in-memory log of one Raft node. */
export class RaftLog {
  #snap: Snapshot;
  #ents: Entry[];
  #confIdx: number[] = [];
  /** Highest committed index. */
  committed: number;
  /** Highest index handed to the application and acknowledged by `advance`. */
  applied: number;
  /** Highest index known to be on stable storage. */
  stable: number;
  /** A snapshot received from a leader, not yet handed out in a Ready. */
  pendingSnapshot: Snapshot | undefined;

  /** Rebuilds the log from what was persisted. */
  constructor(st: StorageState) {
    this.#snap = st.snapshot;
    this.#ents = [];
    let expect = st.snapshot.index + 1;
    for (const e of st.entries) {
      if (e.index < expect) continue;
      if (e.index !== expect) break;
      this.#push(e);
      expect++;
    }
    this.stable = this.lastIndex();
    this.committed = Math.min(Math.max(st.hardState.commit, st.snapshot.index), this.lastIndex());
    this.applied = st.snapshot.index;
  }

  /** Index of the snapshot the log starts after. */
  get snapshotIndex(): number {
    return this.#snap.index;
  }

  /** The latest snapshot (data included). */
  get snapshot(): Snapshot {
    return this.#snap;
  }

  /** First index still held as an entry. */
  firstIndex(): number {
    return this.#snap.index + 1;
  }

  /** Last index in the log. */
  lastIndex(): number {
    return this.#snap.index + this.#ents.length;
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of the entry at `i`, or undefined when compacted away or beyond the end. */
  term(i: number): number | undefined {
    const s = this.#snap.index;
    if (i === s) return this.#snap.term;
    if (i < s || i > s + this.#ents.length) return undefined;
    return this.#ents[i - s - 1].term;
  }

  /** The entry at `i`, if held. */
  entry(i: number): Entry | undefined {
    const s = this.#snap.index;
    if (i <= s || i > s + this.#ents.length) return undefined;
    return this.#ents[i - s - 1];
  }

  /** True if the entry at `i` has term `t`. */
  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** True if a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The largest index `j <= index` whose term is at most `term`, with that
   * term: the fast back-off hint. Stops at the snapshot.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.#snap.index; i--) {
      const t = this.term(i)!;
      if (t <= term) return [i, t];
    }
    return [i, this.term(i) ?? 0];
  }

  /**
   * Appends `ents` that follow (`prevIndex`, `prevTerm`) if that entry
   * matches: conflicting entries are truncated, existing matching ones kept.
   * Returns the last index of the new entries, or -1 on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    let from = -1;
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k];
      if (e.index !== prevIndex + 1 + k) {
        throw new RaftInvariantError(`append entries are not contiguous at ${e.index}`);
      }
      if (!this.matchTerm(e.index, e.term)) {
        from = k;
        break;
      }
    }
    if (from >= 0) {
      const first = ents[from].index;
      if (first <= this.committed) {
        throw new RaftInvariantError(
          `entry ${first} conflicts with the committed log (commit ${this.committed})`,
        );
      }
      this.append(ents.slice(from));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries, truncating every entry from `ents[0].index` on. */
  append(ents: Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0].index;
    if (first <= this.#snap.index || first > this.lastIndex() + 1) {
      throw new RaftInvariantError(
        `cannot append at ${first}: log holds ${this.firstIndex()}..${this.lastIndex()}`,
      );
    }
    if (first <= this.committed) {
      throw new RaftInvariantError(`cannot overwrite committed entry ${first}`);
    }
    this.#truncateFrom(first);
    for (const e of ents) this.#push(e);
  }

  #truncateFrom(first: number): void {
    const keep = first - this.#snap.index - 1;
    if (keep < this.#ents.length) this.#ents.length = keep;
    while (this.#confIdx.length > 0 && this.#confIdx[this.#confIdx.length - 1] >= first) {
      this.#confIdx.pop();
    }
    if (this.stable >= first) this.stable = first - 1;
  }

  #push(e: Entry): void {
    this.#ents.push(e);
    if (e.kind === "conf") this.#confIdx.push(e.index);
  }

  /** Entries [lo, ...] of at most `maxEntries` and about `maxBytes` (at least one). */
  slice(lo: number, maxEntries: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i <= this.lastIndex() && out.length < maxEntries; i++) {
      const e = this.entry(i);
      if (!e) break;
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Raises the commit index; it never moves back. */
  commitTo(c: number): void {
    if (c <= this.committed) return;
    if (c > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${c} is beyond the last index ${this.lastIndex()}`);
    }
    this.committed = c;
  }

  /** Entries not yet persisted. */
  unstableEntries(): Entry[] {
    if (this.stable >= this.lastIndex()) return [];
    const from = Math.max(this.stable, this.#snap.index) - this.#snap.index;
    return this.#ents.slice(from);
  }

  /** Marks entries up to `i` persisted, if the entry at `i` still has term `t`. */
  stableTo(i: number, t: number): void {
    if (i > this.stable && this.matchTerm(i, t)) this.stable = i;
  }

  /** Committed entries not yet applied. */
  nextCommitted(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (lo > this.committed) return [];
    const s = this.#snap.index;
    return this.#ents.slice(lo - s - 1, this.committed - s);
  }

  /** True if committed entries wait to be applied. */
  hasNextCommitted(): boolean {
    return this.committed > Math.max(this.applied, this.#snap.index);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.#snap = s;
    this.#ents = [];
    this.#confIdx = [];
    this.committed = s.index;
    this.stable = s.index;
    this.pendingSnapshot = s;
  }

  /**
   * Compacts the log up to `index` (which must be applied) into a snapshot
   * holding `data`, the state machine at `index`. Returns the snapshot.
   */
  compact(index: number, data: Uint8Array): Snapshot {
    if (index <= this.#snap.index) return this.#snap;
    if (index > this.applied) {
      throw new RaftInvariantError(`cannot compact to ${index}: only ${this.applied} applied`);
    }
    const conf = this.confAt(index);
    const snap: Snapshot = {
      index,
      term: this.term(index)!,
      voters: conf.voters,
      learners: conf.learners,
      data,
    };
    this.#ents = this.#ents.slice(index - this.#snap.index);
    this.#confIdx = this.#confIdx.filter((i) => i > index);
    this.#snap = snap;
    return snap;
  }

  /** Index of the latest configuration entry, or the snapshot index if none follows it. */
  lastConfIndex(): number {
    return this.#confIdx.length > 0 ? this.#confIdx[this.#confIdx.length - 1] : this.#snap.index;
  }

  /** The configuration in force at `index`: the latest conf entry at or before it. */
  confAt(index: number): ConfState {
    for (let k = this.#confIdx.length - 1; k >= 0; k--) {
      const ci = this.#confIdx[k];
      if (ci <= index) {
        const d = decodeConfEntry(this.entry(ci)!.data);
        return { voters: d.voters, learners: d.learners };
      }
    }
    return { voters: this.#snap.voters, learners: this.#snap.learners };
  }
}
