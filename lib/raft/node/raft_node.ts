/**
 * The Raft I/O shell of a master: drives the pure core with a real clock,
 * the durable write-ahead log and the RPC transport, and applies committed
 * entries to the KV state machine. Each loop takes one `Ready`, makes its
 * entries and hard state durable with one sync (proposals arriving meanwhile
 * batch into the next one: group commit), then sends, applies, serves reads
 * and advances. Nothing is acknowledged before it is committed and applied.
 * Committed entries this node already holds durably are applied while the
 * sync of newer ones runs, and a hard state whose only change is the commit
 * index (volatile state in Raft) is not synced on its own: it rides the next
 * sync.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { raftMessages, raftWireType } from "../../../proto/raft.ts";
import { ElasticoreError } from "../../errors.ts";
import type { MetricsRegistry } from "../../metrics.ts";
import type { PeerAddress, Rpc } from "../../transport/mod.ts";
import {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
  KvStateMachine,
} from "../kv_state.ts";
import { Raft } from "../raft.ts";
import type { ConfChange } from "../confchange.ts";
import type { Entry, HardState, RaftMessage, RaftStatus, Ready } from "../types.ts";
import { Wal } from "../wal/wal.ts";
import { storageStateFrom, toWalEntry, toWalSnapshot } from "./persist.ts";

/** KV keys under this prefix hold members' RPC addresses (`host:port`). */
export const ADDR_KEY_PREFIX = "_sys/raft/addr/";

/** Options of a {@link RaftNode}. */
export interface RaftNodeOptions {
  /** This node's id. */
  id: string;
  /** Directory of the write-ahead log and snapshots. */
  dir: string;
  /** The shared RPC endpoint (Raft messages travel as one-way messages). */
  rpc: Rpc;
  /** Initial voters and their RPC addresses (bootstrap); this node need not be one. */
  members: Map<string, PeerAddress>;
  /** Election timeout (randomized in [t, 2t)). */
  electionTimeoutMs: number;
  /** Leader heartbeat interval. */
  heartbeatIntervalMs: number;
  /** Applied entries between snapshots. */
  snapshotThreshold: number;
  /** Most entries per append message. */
  maxBatchEntries: number;
  /** Where to log. */
  logger: Logger;
  /** Where to register metrics. */
  metrics?: MetricsRegistry;
  /** Called on an unrecoverable local failure (the WAL cannot be written). */
  onFatal?: (e: unknown) => void;
}

interface Waiter<T> {
  term: number;
  /** `performance.now()` after which the proposal fails with `proposal_timeout`. */
  deadline: number;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

const MAX_PENDING_SENDS_PER_PEER = 512;

/** A master's Raft node: the core plus its durable log, network and state machine. */
export class RaftNode {
  /** The replicated key-value store (read it after {@link linearizableRead}). */
  readonly sm = new KvStateMachine();
  /** This node's id. */
  readonly id: string;
  readonly #opts: RaftNodeOptions;
  readonly #core: Raft;
  readonly #wal: Wal;
  readonly #log: Logger;
  #tick?: ReturnType<typeof setInterval>;
  #draining = false;
  #again = false;
  #stopped = false;
  #lastHardState: HardState;
  /** `#lastHardState` differs from the durable one in its commit index only. */
  #hardStateDeferred = false;
  #lastPersistedIndex: number;
  #snapshotIndex: number;
  #compacting = false;
  #proposals = new Map<number, Waiter<KvResult | undefined>>();
  /** Earliest deadline among `#proposals` (checked on every tick). */
  #nextDeadline = Infinity;
  #reads = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  #appliedWaiters: { index: number; resolve: () => void }[] = [];
  #pendingSends = new Map<string, number>();
  #readSeq = 0;
  #queued: {
    data: Uint8Array;
    timeoutMs: number;
    resolve: (r: KvResult | undefined) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #role = "follower";
  readonly #counters;

  private constructor(
    opts: RaftNodeOptions,
    core: Raft,
    wal: Wal,
    hs: HardState,
    last: number,
    snap: number,
  ) {
    this.id = opts.id;
    this.#opts = opts;
    this.#core = core;
    this.#wal = wal;
    this.#log = opts.logger;
    this.#lastHardState = hs;
    this.#lastPersistedIndex = last;
    this.#snapshotIndex = snap;
    const m = opts.metrics;
    this.#counters = m
      ? {
        proposals: m.counter("elasticore_raft_proposals_total", "Entries proposed on this node"),
        readies: m.counter("elasticore_raft_ready_total", "Ready batches processed"),
        sent: m.counter("elasticore_raft_messages_sent_total", "Raft messages sent, by type"),
        dropped: m.counter(
          "elasticore_raft_messages_dropped_total",
          "Raft messages dropped (peer backlog)",
        ),
        batch: m.histogram(
          "elasticore_raft_ready_entries",
          "Entries persisted per Ready",
          [0, 1, 4, 16, 64, 256, 1024],
        ),
      }
      : undefined;
    const gauges: [string, string, () => number][] = [
      ["elasticore_raft_term", "Current Raft term", () => this.#core.status().term],
      ["elasticore_raft_commit_index", "Commit index", () => this.#core.status().commit],
      ["elasticore_raft_applied_index", "Applied index", () => this.sm.applied],
      ["elasticore_raft_is_leader", "1 on the leader", () => this.isLeader() ? 1 : 0],
      ["elasticore_raft_wal_syncs", "WAL syncs since start", () => this.#wal.stats.syncs],
    ];
    for (const [name, help, read] of gauges) m?.gauge(name, help, () => [[undefined, read()]]);
  }

  /** Opens the WAL in `opts.dir`, rebuilds the core and state machine, and starts ticking. */
  static async open(opts: RaftNodeOptions): Promise<RaftNode> {
    const { wal, state } = await Wal.open(opts.dir);
    const storage = storageStateFrom(state, [...opts.members.keys()]);
    const tickMs = RaftNode.tickMs(opts);
    const core = new Raft({
      id: opts.id,
      storage,
      random: Math.random,
      electionTick: Math.max(3, Math.round(opts.electionTimeoutMs / tickMs)),
      heartbeatTick: Math.max(1, Math.round(opts.heartbeatIntervalMs / tickMs)),
      maxEntriesPerMsg: opts.maxBatchEntries,
    });
    const last = state.entries.at(-1)?.index ?? storage.snapshot.index;
    const node = new RaftNode(opts, core, wal, storage.hardState, last, storage.snapshot.index);
    if (storage.snapshot.data.byteLength > 0) node.sm.restore(storage.snapshot.data);
    for (const [id, addr] of opts.members) if (id !== opts.id) opts.rpc.addPeer(id, addr);
    node.#learnAddresses();
    for (const type of RAFT_TYPES) {
      opts.rpc.handle(type, (body) => {
        node.#step(body as RaftMessage);
        return undefined;
      });
    }
    node.#tick = setInterval(() => {
      if (node.#stopped) return;
      node.#core.tick();
      node.#expireProposals();
      node.#kick();
    }, tickMs);
    node.#kick();
    return node;
  }

  /** The tick period: a fraction of the heartbeat interval. */
  static tickMs(opts: Pick<RaftNodeOptions, "heartbeatIntervalMs" | "electionTimeoutMs">): number {
    return Math.max(5, Math.min(opts.heartbeatIntervalMs, Math.floor(opts.electionTimeoutMs / 10)));
  }

  /** True while this node leads. */
  isLeader(): boolean {
    return this.#core.status().role === "leader";
  }

  /** The known leader's id, or "" when none is known. */
  leader(): string {
    return this.#core.status().lead;
  }

  /** The core's status. */
  status(): RaftStatus {
    return this.#core.status();
  }

  /**
   * Proposes a command on this node, which must lead; resolves with the
   * state machine's result once the entry is committed and applied here.
   */
  proposeLocal(cmd: KvCommand, timeoutMs = 10_000): Promise<KvResult | undefined> {
    return this.#proposeData(encodeKvCommand(cmd), timeoutMs);
  }

  #proposeData(data: Uint8Array, timeoutMs: number): Promise<KvResult | undefined> {
    this.#checkRunning();
    return new Promise((resolve, reject) => {
      this.#queued.push({ data, timeoutMs, resolve, reject });
      // While a Ready is being persisted, proposals wait and go out together
      // (one entry batch, one append per follower); otherwise at once.
      if (!this.#draining) this.#kick();
    });
  }

  /** Hands queued proposals to the core in one batch. */
  #flushProposals(): void {
    if (!this.#queued.length) return;
    const batch = this.#queued;
    this.#queued = [];
    const results = this.#core.proposeBatch(batch.map((p) => p.data));
    for (let i = 0; i < batch.length; i++) {
      const r = results[i];
      const p = batch[i];
      if (!r.ok) p.reject(refusal(r.reason, r.leader, r.detail));
      else {
        this.#counters?.proposals.inc();
        this.#addWaiter(r.index, r.term, p.timeoutMs, p.resolve, p.reject);
      }
    }
  }

  /** Proposes a membership change (leader only); resolves once it is applied here. */
  async changeMembership(cc: ConfChange, timeoutMs = 10_000): Promise<void> {
    this.#checkRunning();
    const r = this.#core.proposeConfChange(cc);
    if (!r.ok) throw refusal(r.reason, r.leader, r.detail);
    this.#kick();
    await new Promise((resolve, reject) => {
      this.#addWaiter(r.index, r.term, timeoutMs, resolve, reject);
    });
  }

  /** Starts a leadership transfer to `to` (leader only). */
  transferLeadership(to: string): void {
    this.#checkRunning();
    const r = this.#core.transferLeadership(to);
    if (!r.ok) throw refusal(r.reason, r.leader, r.detail);
    this.#kick();
  }

  /**
   * Waits until a read of the state machine here is linearizable (ReadIndex:
   * the leader confirms it still leads, then this node applies up to its
   * commit index). Works on followers too.
   */
  linearizableRead(timeoutMs = 5_000): Promise<void> {
    this.#checkRunning();
    const seq = ++this.#readSeq;
    const key = `${this.id}:${seq}`;
    const ctx = new TextEncoder().encode(key);
    const r = this.#core.readIndex(ctx);
    if (!r.ok) throw refusal(r.reason, r.leader, r.detail);
    this.#kick();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#reads.delete(key);
        reject(unavailable("read_timeout", "no leader confirmed the read in time"));
      }, timeoutMs);
      this.#reads.set(key, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Stops ticking, flushes the WAL and fails every pending request. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    const err = unavailable("node_stopping", "the node is stopping");
    this.#failAll(err);
    if (this.#hardStateDeferred) {
      await this.#wal.append({ hardState: this.#lastHardState }).catch(() => {});
    }
    await this.#wal.close().catch(() => {});
  }

  #checkRunning(): void {
    if (this.#stopped) {
      throw unavailable("node_stopping", "the node is stopping");
    }
  }

  #step(m: RaftMessage): void {
    if (this.#stopped) return;
    this.#core.step(m);
    if (this.#draining && m.type === "append_resp") this.#applyCommitted();
    this.#kick();
  }

  /**
   * On the leader, while a sync runs, applies entries an ack just committed that are durable here
   * already (`#apply` skips them later); pauses while a snapshot is due, so compaction sees the
   * core and the state machine at one index.
   */
  #applyCommitted(): void {
    const log = this.#core.log;
    const applied = this.sm.applied;
    if (this.#role !== "leader" || log.pendingSnapshot) return;
    if (applied - this.#snapshotIndex >= this.#opts.snapshotThreshold) return;
    const upTo = Math.min(log.committed, this.#lastPersistedIndex);
    if (upTo <= applied) return;
    for (const e of log.slice(applied + 1, upTo - applied, Infinity)) this.#applyEntry(e);
  }

  /** Waits for entry `index` of `term` to apply; `#expireProposals` (per tick) times it out. */
  #addWaiter(
    index: number,
    term: number,
    timeoutMs: number,
    resolve: (v: KvResult | undefined) => void,
    reject: (e: unknown) => void,
  ): void {
    const deadline = performance.now() + timeoutMs;
    if (deadline < this.#nextDeadline) this.#nextDeadline = deadline;
    this.#proposals.set(index, { term, deadline, resolve, reject });
  }

  #expireProposals(): void {
    const now = performance.now();
    if (now < this.#nextDeadline) return;
    let next = Infinity;
    for (const [index, w] of this.#proposals) {
      if (w.deadline > now) {
        next = Math.min(next, w.deadline);
        continue;
      }
      this.#proposals.delete(index);
      w.reject(
        new ElasticoreError(
          "proposal_timeout",
          `entry ${index} was not committed in time; its outcome is unknown`,
          { status: 504 },
        ),
      );
    }
    this.#nextDeadline = next;
  }

  #kick(): void {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    if (this.#stopped) return;
    this.#flushProposals();
    if (!this.#core.hasReady()) return;
    this.#draining = true;
    this.#drain().catch((e) => this.#fatal(e)).finally(() => {
      this.#draining = false;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      }
    });
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      this.#flushProposals();
      if (!this.#core.hasReady()) break;
      const rd = this.#core.ready();
      if (rd.softState) this.#role = rd.softState.role;
      // A leader may replicate entries while it writes them itself (Raft thesis
      // 10.2.1): the core counts its own copy only once advance() reports it
      // durable. Every other role persists before it speaks (votes, acks).
      const early = this.#role === "leader";
      if (early) { for (const m of rd.messages) this.#send(m); }
      // Committed entries already durable here need not wait for this sync
      // (#apply skips them afterwards).
      const durable = rd.snapshot ? 0 : this.#lastPersistedIndex;
      for (const e of rd.committed) {
        if (e.index > durable) break;
        this.#applyEntry(e);
      }
      await this.#persist(rd);
      if (!early) { for (const m of rd.messages) this.#send(m); }
      this.#apply(rd);
      this.#core.advance(rd);
      this.#counters?.readies.inc();
      this.#maybeCompact();
    }
  }

  async #persist(rd: Ready): Promise<void> {
    const hs = rd.hardState ?? this.#lastHardState;
    const last = this.#lastHardState;
    this.#counters?.batch.observe(rd.entries.length);
    if (
      !rd.snapshot && !rd.entries.length && rd.hardState &&
      hs.term === last.term && hs.vote === last.vote
    ) {
      // Only the commit index moved: Raft keeps it in volatile state (a
      // restarted node learns it again), so it needs no sync of its own.
      this.#lastHardState = hs;
      this.#hardStateDeferred = true;
      return;
    }
    if (rd.snapshot) {
      await this.#wal.saveSnapshot(toWalSnapshot(rd.snapshot), hs, []);
      this.#snapshotIndex = rd.snapshot.index;
      this.#lastPersistedIndex = rd.snapshot.index;
      this.#hardStateDeferred = false;
    }
    if (rd.entries.length || rd.hardState) {
      const hardState = rd.hardState ?? (this.#hardStateDeferred ? hs : undefined);
      await this.#wal.append({ entries: rd.entries.map(toWalEntry), hardState });
      this.#hardStateDeferred = false;
    }
    this.#lastHardState = hs;
    if (rd.entries.length) this.#lastPersistedIndex = rd.entries[rd.entries.length - 1].index;
  }

  #send(m: RaftMessage): void {
    const pending = this.#pendingSends.get(m.to) ?? 0;
    const type = raftWireType(m);
    if (pending >= MAX_PENDING_SENDS_PER_PEER) {
      // The peer is slow or gone; Raft retransmits, so dropping keeps memory bounded.
      this.#counters?.dropped.inc({ type });
      return;
    }
    this.#pendingSends.set(m.to, pending + 1);
    this.#counters?.sent.inc({ type });
    this.#opts.rpc.notify(m.to, type, m).catch(() => {}).finally(() => {
      this.#pendingSends.set(m.to, (this.#pendingSends.get(m.to) ?? 1) - 1);
    });
  }

  #apply(rd: Ready): void {
    if (rd.snapshot && rd.snapshot.index > this.sm.applied) {
      if (rd.snapshot.data.byteLength > 0) this.sm.restore(rd.snapshot.data);
      this.#learnAddresses();
      for (const [index, w] of this.#proposals) {
        if (index <= rd.snapshot.index) {
          this.#proposals.delete(index);
          w.reject(
            unavailable("proposal_outcome_unknown", `entry ${index} was covered by a snapshot`),
          );
        }
      }
    }
    for (const e of rd.committed) this.#applyEntry(e);
    for (const rs of rd.readStates) {
      const key = new TextDecoder().decode(rs.ctx);
      const waiter = this.#reads.get(key);
      if (!waiter) continue;
      this.#reads.delete(key);
      if (this.sm.applied >= rs.index) waiter.resolve();
      else this.#appliedWaiters.push({ index: rs.index, resolve: waiter.resolve });
    }
    if (this.#appliedWaiters.length) {
      const applied = this.sm.applied;
      const ready = this.#appliedWaiters.filter((w) => w.index <= applied);
      this.#appliedWaiters = this.#appliedWaiters.filter((w) => w.index > applied);
      for (const w of ready) w.resolve();
    }
  }

  #applyEntry(e: Entry): void {
    if (e.index <= this.sm.applied) return;
    let result: KvResult | undefined;
    if (e.kind === "conf" || e.data.byteLength === 0) {
      this.sm.apply(e.index, new Uint8Array(0));
    } else {
      const cmd = decodeKvCommand(e.data);
      result = this.sm.execute(e.index, cmd);
      if (cmd.key.startsWith(ADDR_KEY_PREFIX) && result.ok) this.#learnAddress(cmd);
    }
    const w = this.#proposals.get(e.index);
    if (!w) return;
    this.#proposals.delete(e.index);
    if (w.term === e.term) w.resolve(result);
    else {
      w.reject(
        unavailable(
          "proposal_dropped",
          `entry ${e.index} was replaced after a leader change; retry`,
        ),
      );
    }
  }

  #learnAddresses(): void {
    for (const [key, item] of this.sm.list(ADDR_KEY_PREFIX)) {
      this.#learnAddress({ op: "put", key, value: item.value });
    }
  }

  #learnAddress(cmd: KvCommand): void {
    const id = cmd.key.slice(ADDR_KEY_PREFIX.length);
    if (id === this.id) return;
    if (cmd.op === "delete") return;
    const addr = parseAddr(new TextDecoder().decode(cmd.value));
    if (addr) this.#opts.rpc.addPeer(id, addr);
  }

  /** Snapshots once enough entries applied; the WAL writes it while the loop goes on. */
  #maybeCompact(): void {
    const applied = this.sm.applied;
    if (this.#compacting || applied - this.#snapshotIndex < this.#opts.snapshotThreshold) return;
    if (applied !== this.#core.log.applied) return; // #applyCommitted ran ahead; next round
    const snap = this.#core.compact(applied, this.sm.snapshot());
    const retained = this.#core.log.slice(applied + 1, Infinity, Infinity)
      .filter((e) => e.index <= this.#lastPersistedIndex);
    this.#snapshotIndex = applied;
    this.#compacting = true;
    this.#wal.saveSnapshot(toWalSnapshot(snap), this.#lastHardState, retained.map(toWalEntry))
      .then(() => this.#log.info("snapshot {index} taken; log compacted", { index: applied }))
      .catch((e) => this.#fatal(e))
      .finally(() => this.#compacting = false);
  }

  #failAll(err: unknown): void {
    for (const p of this.#queued) p.reject(err);
    this.#queued = [];
    for (const w of this.#proposals.values()) w.reject(err);
    this.#proposals.clear();
    for (const r of this.#reads.values()) r.reject(err);
    this.#reads.clear();
  }

  #fatal(e: unknown): void {
    this.#log.fatal("raft storage failed: {error}", { error: String(e) });
    this.#failAll(new ElasticoreError("raft_storage_failed", String(e), { status: 500 }));
    this.#stopped = true;
    clearInterval(this.#tick);
    this.#opts.onFatal?.(e);
  }
}

const RAFT_TYPES = Object.keys(raftMessages);

/** Parses `host:port` (IPv6 as `[::1]:7400`). */
export function parseAddr(s: string): PeerAddress | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { hostname: m[1], port } : undefined;
}

function unavailable(code: string, message: string): ElasticoreError {
  return new ElasticoreError(code, message, { status: 503 });
}

const REFUSALS: Record<string, [string, number]> = {
  not_leader: ["this node is not the leader (leader: {leader})", 503],
  no_leader: ["no leader is known yet", 503],
  overloaded: ["too many uncommitted entries; retry later", 503],
  transferring: ["leadership is being transferred; retry", 503],
  conf_change_pending: ["another membership change is in progress", 409],
  invalid_conf_change: ["membership change refused", 400],
};

function refusal(reason: string, leader: string, detail?: string): ElasticoreError {
  const code = Object.hasOwn(REFUSALS, reason) ? reason : "invalid_conf_change";
  const [text, status] = REFUSALS[code];
  const message = text.replace("{leader}", leader || "unknown") + (detail ? `: ${detail}` : "");
  return new ElasticoreError(code, message, { status });
}
