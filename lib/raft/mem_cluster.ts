/**
 * An in-memory cluster of Raft cores with a hand-driven network, for unit
 * tests and examples: messages wait in a FIFO until delivered, links can be
 * cut, nodes crash (keeping only what their Readies persisted) and restart.
 * Everything is synchronous and deterministic.
 *
 * @module
 */
import { Prng } from "../sim/prng.ts";
import { Raft } from "./raft.ts";
import type {
  Entry,
  RaftMessage,
  RaftOptions,
  ReadState,
  Snapshot,
  StorageState,
} from "./types.ts";
import { NONE } from "./types.ts";

/** Options of every core in a {@link MemCluster}. */
export type MemCoreOptions = Omit<RaftOptions, "id" | "storage" | "random">;

interface Disk {
  state: StorageState;
}

/** A deterministic in-memory cluster. */
export class MemCluster {
  /** Running cores by id (absent while crashed). */
  readonly nodes = new Map<string, Raft>();
  /** Entries each node applied, in order. */
  readonly applied = new Map<string, Entry[]>();
  /** Read states each node produced. */
  readonly reads = new Map<string, ReadState[]>();
  /** Snapshots each node received in a Ready. */
  readonly installed = new Map<string, Snapshot[]>();
  /** Messages sent and not yet delivered. */
  queue: RaftMessage[] = [];
  /** Every message ever sent, for assertions. */
  readonly sent: RaftMessage[] = [];
  readonly #disks = new Map<string, Disk>();
  readonly #cut = new Set<string>();
  readonly #opts: MemCoreOptions;
  readonly #prng: Prng;

  /** Creates `voters` (plus `learners`) bootstrapped with that configuration. */
  constructor(voters: string[], opts: MemCoreOptions = {}, learners: string[] = [], seed = 1) {
    this.#opts = opts;
    this.#prng = new Prng(seed);
    for (const id of [...voters, ...learners]) {
      const snapshot: Snapshot = { index: 0, term: 0, voters, learners, data: new Uint8Array(0) };
      this.#disks.set(id, {
        state: { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot, entries: [] },
      });
      this.start(id);
    }
  }

  /** Adds a blank machine (empty configuration) that can join as a learner. */
  addBlank(id: string): Raft {
    const snapshot: Snapshot = {
      index: 0,
      term: 0,
      voters: [],
      learners: [],
      data: new Uint8Array(0),
    };
    this.#disks.set(id, {
      state: { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot, entries: [] },
    });
    return this.start(id);
  }

  /** Boots (or restarts) `id` from what it persisted. */
  start(id: string): Raft {
    const disk = this.#disks.get(id)!;
    const prng = this.#prng.fork();
    const r = new Raft({ ...this.#opts, id, storage: disk.state, random: () => prng.next() });
    this.nodes.set(id, r);
    if (!this.applied.has(id)) this.applied.set(id, []);
    if (!this.reads.has(id)) this.reads.set(id, []);
    if (!this.installed.has(id)) this.installed.set(id, []);
    return r;
  }

  /** Crashes `id`: memory is lost, persisted state stays. */
  crash(id: string): void {
    this.nodes.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  /** The core of `id` (throws if down). */
  node(id: string): Raft {
    const r = this.nodes.get(id);
    if (!r) throw new Error(`node ${id} is down`);
    return r;
  }

  /** Cuts both directions between `a` and each of `others` (default: everyone). */
  isolate(a: string, others?: string[]): void {
    for (const b of others ?? [...this.#disks.keys()]) {
      if (b === a) continue;
      this.#cut.add(`${a}>${b}`);
      this.#cut.add(`${b}>${a}`);
    }
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }

  /** Handles every pending Ready of `id` as a shell would (persist, send, apply, advance). */
  flush(id: string): void {
    const r = this.nodes.get(id);
    if (!r) return;
    const disk = this.#disks.get(id)!;
    while (r.hasReady()) {
      const rd = r.ready();
      const st = disk.state;
      let entries = st.entries;
      let snapshot = st.snapshot;
      if (rd.snapshot) {
        snapshot = rd.snapshot;
        entries = [];
        this.installed.get(id)!.push(rd.snapshot);
      }
      if (rd.entries.length > 0) {
        const first = rd.entries[0].index;
        entries = entries.filter((e) => e.index < first).concat(rd.entries);
      }
      disk.state = { hardState: rd.hardState ?? st.hardState, snapshot, entries };
      for (const m of rd.messages) {
        this.sent.push(m);
        this.queue.push(m);
      }
      this.applied.get(id)!.push(...rd.committed);
      this.reads.get(id)!.push(...rd.readStates);
      r.advance(rd);
    }
  }

  /** Records a compaction `id` made (its snapshot replaces the persisted prefix). */
  persistCompaction(id: string, snap: Snapshot): void {
    const disk = this.#disks.get(id)!;
    disk.state = {
      ...disk.state,
      snapshot: snap,
      entries: disk.state.entries.filter((e) => e.index > snap.index),
    };
  }

  /** Flushes every node. */
  flushAll(): void {
    for (const id of this.nodes.keys()) this.flush(id);
  }

  /**
   * Delivers queued messages one at a time (flushing the receiver after
   * each) until none is left, `until()` holds, or `max` were delivered.
   * Messages on cut links or to crashed nodes are dropped. Returns how many
   * were delivered.
   */
  deliver(until: () => boolean = () => false, max = 100_000): number {
    this.flushAll();
    let n = 0;
    while (this.queue.length > 0 && n < max && !until()) {
      const m = this.queue.shift()!;
      const r = this.nodes.get(m.to);
      if (!r || this.#cut.has(`${m.from}>${m.to}`)) continue;
      r.step(m);
      this.flush(m.to);
      n++;
    }
    return n;
  }

  /** Drops every queued message (e.g. to freeze a state). */
  dropQueued(filter: (m: RaftMessage) => boolean = () => true): void {
    this.queue = this.queue.filter((m) => !filter(m));
  }

  /** Ticks `id` `n` times, flushing after each. */
  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.nodes.get(id)?.tick();
      this.flush(id);
    }
  }

  /** Makes `id` campaign now and delivers until quiet. */
  elect(id: string): void {
    this.node(id).campaign();
    this.deliver();
  }

  /** The leader with the highest term, if any. */
  leader(): string | undefined {
    let best: Raft | undefined;
    for (const r of this.nodes.values()) {
      if (r.role === "leader" && (!best || r.term > best.term)) best = r;
    }
    return best?.id;
  }
}
