/**
 * One simulated Raft server: the core, its storage on a `SimDisk`, and the
 * KV state machine, wired the way a real shell wires them. Each Ready is
 * written, synced after a simulated fsync delay (group commit: the next
 * Ready waits), and only then are its messages sent and its committed
 * entries applied. A crash loses unsynced writes and everything in memory;
 * a restart rebuilds the core and the state machine from the disk.
 *
 * @module
 */
import { SimDisk } from "../sim/disk.ts";
import type { Simulator } from "../sim/simulator.ts";
import { encodeKvCommand, type KvCommand, type KvItem, type KvResult } from "./kv_state.ts";
import { KvStateMachine } from "./kv_state.ts";
import { Raft } from "./raft.ts";
import { ctxKey } from "./read_only.ts";
import { RaftDiskStorage } from "./storage.ts";
import type { Entry, RaftMessage, RaftOptions, Ready } from "./types.ts";

/** The answer a simulated server gives a client. */
export type ServerReply =
  | { kind: "written"; result: KvResult }
  | { kind: "read"; item: KvItem | undefined }
  | { kind: "refused"; leader: string }
  | { kind: "superseded" }
  | { kind: "unknown" };

/** Callbacks the simulation installs to observe a node. */
export interface NodeHooks {
  /** Entries about to be persisted (for log-matching checks). */
  persisting(node: SimRaftNode, entries: Entry[]): void;
  /** An entry being applied to the state machine. */
  applying(node: SimRaftNode, entry: Entry): void;
  /** A snapshot installed (received from the leader) or made (compaction). */
  snapshot(node: SimRaftNode, installed: boolean): void;
  /** A message leaving the node. */
  send(from: string, msg: RaftMessage): void;
}

/** Core settings shared by every node of a simulation. */
export type CoreSettings = Omit<RaftOptions, "id" | "storage" | "random">;

/** One simulated server. */
export class SimRaftNode {
  /** Node id. */
  readonly id: string;
  /** Its disk. */
  readonly disk = new SimDisk<unknown>();
  /** The running core, undefined while down. */
  core: Raft | undefined;
  /** The state machine. */
  kv = new KvStateMachine();
  #storage: RaftDiskStorage | undefined;
  #syncing = false;
  #proposals = new Map<number, { term: number; done: (r: ServerReply) => void }>();
  #reads = new Map<string, () => void>();
  #waiting: { index: number; serve: () => void }[] = [];
  readonly #sim: Simulator;
  readonly #hooks: NodeHooks;
  readonly #settings: CoreSettings;
  readonly #compactEvery: number;
  readonly #syncDelay: () => number;
  readonly #tickMs: number;

  /** Creates a node (down until {@link start}). */
  constructor(
    id: string,
    sim: Simulator,
    hooks: NodeHooks,
    opts: { settings: CoreSettings; compactEvery: number; syncDelay: () => number; tickMs: number },
  ) {
    this.id = id;
    this.#sim = sim;
    this.#hooks = hooks;
    this.#settings = opts.settings;
    this.#compactEvery = opts.compactEvery;
    this.#syncDelay = opts.syncDelay;
    this.#tickMs = opts.tickMs;
  }

  /** Writes the initial configuration on a brand-new member of the first cluster. */
  bootstrap(voters: string[]): void {
    new RaftDiskStorage(this.disk).bootstrap(voters);
  }

  /** Boots the node from its disk and starts its tick timer. */
  start(): void {
    const storage = new RaftDiskStorage(this.disk);
    this.#storage = storage;
    const st = storage.load();
    const prng = this.#sim.prng.fork();
    this.core = new Raft({
      ...this.#settings,
      id: this.id,
      storage: st,
      random: () => prng.next(),
    });
    this.kv = new KvStateMachine();
    if (st.snapshot.index > 0) this.kv.restore(st.snapshot.data);
    this.#syncing = false;
    this.#scheduleTick();
    this.pump();
  }

  /** Power loss: unsynced writes and all memory are gone. */
  crash(): void {
    this.disk.crash();
    this.core = undefined;
    this.#storage = undefined;
    this.#syncing = false;
    this.#proposals.clear();
    this.#reads.clear();
    this.#waiting = [];
  }

  #scheduleTick(): void {
    this.#sim.schedule(this.#tickMs, `tick ${this.id}`, () => {
      this.core?.tick();
      this.pump();
      this.#scheduleTick();
    }, this.id);
  }

  /** Delivers a message from a peer. */
  receive(msg: RaftMessage): void {
    if (!this.core) return;
    this.core.step(msg);
    this.pump();
  }

  /** A client write: proposed if this node leads. Returns the proposal index, if proposed. */
  write(cmd: KvCommand, done: (r: ServerReply) => void): number | undefined {
    const core = this.core;
    if (!core) return undefined;
    const r = core.propose(encodeKvCommand(cmd));
    if (!r.ok) {
      done({ kind: "refused", leader: r.leader });
      return undefined;
    }
    this.#proposals.set(r.index, { term: r.term, done });
    this.pump();
    return r.index;
  }

  /** A client linearizable read of `key`, identified by `reqId`. */
  read(key: string, reqId: number, done: (r: ServerReply) => void): void {
    const core = this.core;
    if (!core) return;
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, reqId);
    const r = core.readIndex(ctx);
    if (!r.ok) {
      done({ kind: "refused", leader: r.leader });
      return;
    }
    this.#reads.set(ctxKey(ctx), () => done({ kind: "read", item: this.kv.get(key) }));
    this.pump();
  }

  /** Handles Readies until none is left or a sync is in flight. */
  pump(): void {
    const core = this.core;
    const storage = this.#storage;
    if (!core || !storage || this.#syncing || !core.hasReady()) return;
    const rd = core.ready();
    if (rd.entries.length > 0) this.#hooks.persisting(this, rd.entries);
    if (storage.save(rd)) {
      this.#syncing = true;
      this.#sim.schedule(this.#syncDelay(), `fsync ${this.id}`, () => {
        storage.sync();
        this.#syncing = false;
        this.#finish(core, rd);
      }, this.id);
    } else this.#finish(core, rd);
  }

  #finish(core: Raft, rd: Ready): void {
    for (const m of rd.messages) this.#hooks.send(this.id, m);
    if (rd.snapshot) {
      this.kv.restore(rd.snapshot.data);
      this.#hooks.snapshot(this, true);
      for (const [i, p] of this.#proposals) {
        if (i <= rd.snapshot.index) {
          this.#proposals.delete(i);
          p.done({ kind: "unknown" });
        }
      }
    }
    for (const e of rd.committed) this.#apply(e);
    for (const rs of rd.readStates) {
      const key = ctxKey(rs.ctx);
      const serve = this.#reads.get(key);
      if (!serve) continue;
      this.#reads.delete(key);
      this.#waiting.push({ index: rs.index, serve });
    }
    core.advance(rd);
    this.#serveReads();
    this.#maybeCompact(core);
    this.pump();
  }

  #apply(e: Entry): void {
    this.#hooks.applying(this, e);
    const result = this.kv.apply(e.index, e.kind === "conf" ? new Uint8Array(0) : e.data);
    const p = this.#proposals.get(e.index);
    if (!p) return;
    this.#proposals.delete(e.index);
    if (e.term === p.term && result) p.done({ kind: "written", result });
    else p.done({ kind: "superseded" });
  }

  #serveReads(): void {
    if (this.#waiting.length === 0) return;
    const applied = this.kv.applied;
    const rest: { index: number; serve: () => void }[] = [];
    for (const w of this.#waiting) {
      if (w.index <= applied) w.serve();
      else rest.push(w);
    }
    this.#waiting = rest;
  }

  #maybeCompact(core: Raft): void {
    const applied = core.log.applied;
    if (applied - core.log.snapshotIndex < this.#compactEvery) return;
    const snap = core.compact(applied, this.kv.snapshot());
    this.#storage!.compact(snap);
    this.#storage!.sync();
    this.#hooks.snapshot(this, false);
  }
}
