/**
 * The membership half of the SWIM core: the rules that merge alive, suspect,
 * dead and left updates by incarnation number (memberlist's semantics),
 * refutation, suspicion timers, the broadcast queue, full-state push/pull
 * merging and the event stream. `SwimCore` (core.ts) adds probing, gossip
 * rounds and the message handlers on top of this class.
 *
 * Precedence for one member: a higher incarnation wins; at equal incarnation
 * dead/left > suspect > alive. Only the member itself raises its incarnation
 * (to refute a suspicion, to announce new metadata or to leave).
 *
 * @module
 */
import type {
  AliveUpdate,
  DeadUpdate,
  LeftUpdate,
  MemberMeta,
  MemberState,
  PushPull,
  SuspectUpdate,
  Update,
} from "../../proto/swim.ts";
import { BroadcastQueue } from "./broadcast.ts";
import { suspicionMaxMs, suspicionMinMs, type SwimConfig } from "./config.ts";
import { isDown, MembersTable } from "./members.ts";
import { ProbeScheduler } from "./probe.ts";
import { Awareness, Suspicion } from "./suspicion.ts";
import { Deadlines } from "./timers.ts";
import type { Member, RandomSource, SwimEffect, SwimEventKind } from "./types.ts";

/** Prefix of suspicion deadline keys. */
export const SUSPECT_TIMER = "suspect:";
/** Key of the tombstone reaper deadline. */
export const REAP_TIMER = "reap";
/** Key of the gossip round deadline. */
export const GOSSIP_TIMER = "gossip";

/** Identity of the local node. */
export interface LocalNode {
  /** Node id (unique in the cluster). */
  id: string;
  /** Gossip address other nodes send datagrams to. */
  addr: string;
  /** Initial metadata. */
  meta?: MemberMeta;
  /** Initial incarnation (a restarted node may pass its last known one). */
  inc?: number;
}

/** Membership state and update rules shared by the whole core. */
export class MembershipState {
  /** Configuration in force. */
  protected readonly cfg: SwimConfig;
  /** Injected randomness. */
  protected readonly rng: RandomSource;
  /** Every known member. */
  protected readonly table: MembersTable;
  /** Updates waiting to be piggybacked. */
  protected readonly queue: BroadcastQueue;
  /** Named deadlines (one wake-up timer for the shell). */
  protected readonly timers = new Deadlines();
  /** Lifeguard local health. */
  protected readonly awareness: Awareness;
  /** Probe target order. */
  protected readonly scheduler = new ProbeScheduler();
  /** Open suspicions by member id. */
  protected readonly suspicions = new Map<string, Suspicion>();
  /** Effects not yet drained by the shell. */
  protected out: SwimEffect[] = [];
  /** Local time of the current input, in ms. */
  protected now = 0;
  /** True once {@link leave} was requested. */
  protected leaving = false;
  /** Whether the gossip round timer is armed. */
  protected gossipArmed = false;
  /**
   * Newer news than the suspicions and death notices just received: alive messages that out-bid
   * them, owed to their sender (the core sends them back; see `takeCorrections`).
   */
  protected corrections: Update[] = [];

  /** Creates the state of `self` at time `now`. */
  constructor(self: LocalNode, cfg: SwimConfig, rng: RandomSource, now: number) {
    this.cfg = cfg;
    this.rng = rng;
    this.now = now;
    this.awareness = new Awareness(cfg.awarenessMaxScore);
    this.queue = new BroadcastQueue(cfg.maxBroadcastQueue);
    this.table = new MembersTable({
      id: self.id,
      addr: self.addr,
      inc: self.inc ?? 0,
      status: "alive",
      meta: { ...(self.meta ?? {}) },
      changedAt: now,
    });
  }

  /** The local node's id. */
  get id(): string {
    return this.table.self.id;
  }

  /** The local node's current incarnation. */
  get incarnation(): number {
    return this.table.self.inc;
  }

  /** Lifeguard health score (0 = healthy). */
  get health(): number {
    return this.awareness.score;
  }

  /** Live members including the local node (the N of the formulas). */
  get liveCount(): number {
    return this.table.liveCount;
  }

  /** Updates queued for retransmission. */
  get queuedBroadcasts(): number {
    return this.queue.size;
  }

  /** A snapshot of member `id` as the local node sees it. */
  member(id: string): Readonly<Member> | undefined {
    const m = this.table.get(id);
    return m ? { ...m, meta: { ...m.meta } } : undefined;
  }

  /** Snapshots of every known member (tombstones included). */
  members(): Readonly<Member>[] {
    return [...this.table.all()].map((m) => ({ ...m, meta: { ...m.meta } }));
  }

  /** The open suspicion of member `id`, if any (for tests and status). */
  suspicion(id: string): { confirmations: number; deadline: number } | undefined {
    const s = this.suspicions.get(id);
    return s ? { confirmations: s.confirmations, deadline: s.deadline() } : undefined;
  }

  /** Our full state for a push/pull exchange. */
  localState(join: boolean): PushPull {
    const members: MemberState[] = [];
    for (const m of this.table.all()) {
      members.push({ id: m.id, addr: m.addr, inc: m.inc, state: m.status, meta: m.meta });
    }
    return { from: this.id, join, members };
  }

  /** Applies one update (gossiped or derived); ignores stale or malformed ones. */
  protected applyUpdate(u: Update): void {
    if (u.id.length === 0) return;
    switch (u.t) {
      case "alive":
        return this.applyAlive(u);
      case "suspect":
        return this.applySuspect(u);
      case "dead":
      case "left":
        return this.applyDown(u);
    }
  }

  /** Merges a remote full state; remote "dead" counts only as a suspicion (memberlist). */
  protected mergeState(remote: PushPull): void {
    for (const s of remote.members) {
      if (s.id.length === 0) continue;
      if (s.state === "alive") {
        if (s.addr.length === 0) continue;
        this.applyAlive({ t: "alive", id: s.id, inc: s.inc, addr: s.addr, meta: s.meta });
      } else if (s.state === "left") {
        this.applyDown({ t: "left", id: s.id, inc: s.inc });
      } else if (remote.from.length > 0) {
        this.applySuspect({ t: "suspect", id: s.id, inc: s.inc, from: remote.from });
      }
    }
    // The peer gets our whole state in the same exchange: it is owed nothing more.
    this.corrections = [];
  }

  /** Adds members silently (no gossip, no events): a warm start from a known list. */
  protected bootstrapMembers(states: readonly MemberState[]): void {
    for (const s of states) {
      if (s.id === this.id || s.id.length === 0 || this.table.get(s.id)) continue;
      if (s.state !== "alive" && s.state !== "suspect") continue;
      this.table.add({
        id: s.id,
        addr: s.addr,
        inc: s.inc,
        status: "alive",
        meta: { ...s.meta },
        changedAt: this.now,
      });
      this.scheduler.added(s.id, this.rng);
    }
  }

  /** Applies an alive update. */
  protected applyAlive(a: AliveUpdate): void {
    if (a.addr.length === 0) return;
    const self = this.table.self;
    if (a.id === self.id) {
      if (this.leaving || a.inc < self.inc) return;
      if (a.inc === self.inc && a.addr === self.addr && metaEqual(a.meta, self.meta)) return;
      this.refute(a.inc);
      return;
    }
    const m = this.table.get(a.id);
    if (!m) {
      this.table.add({
        id: a.id,
        addr: a.addr,
        inc: a.inc,
        status: "alive",
        meta: { ...a.meta },
        changedAt: this.now,
      });
      this.scheduler.added(a.id, this.rng);
      this.emit("join", this.table.get(a.id)!);
      this.broadcast(a);
      return;
    }
    if (a.inc <= m.inc) return;
    const was = m.status;
    const changed = a.addr !== m.addr || !metaEqual(a.meta, m.meta);
    m.inc = a.inc;
    m.addr = a.addr;
    m.meta = { ...a.meta };
    this.clearSuspicion(m.id);
    if (was !== "alive") this.table.setStatus(m, "alive", this.now);
    if (isDown(was)) {
      this.scheduler.added(m.id, this.rng);
      this.emit("join", m);
    } else if (was === "suspect") {
      this.emit("alive", m);
      if (changed) this.emit("updated", m);
    } else if (changed) {
      this.emit("updated", m);
    }
    this.broadcast(a);
  }

  /** Applies a suspect update (a suspicion or a confirmation of one). */
  protected applySuspect(s: SuspectUpdate): void {
    const m = this.table.get(s.id);
    if (!m) return;
    if (s.inc < m.inc || isDown(m.status)) return this.correct(m, s.inc);
    if (s.id === this.id) {
      if (!this.leaving) this.refute(s.inc);
      return this.correct(m, s.inc);
    }
    if (m.status === "suspect" && s.inc === m.inc) {
      const susp = this.suspicions.get(m.id);
      if (susp && susp.confirm(s.from)) {
        this.timers.set(SUSPECT_TIMER + m.id, susp.deadline());
        this.broadcast(s);
      }
      return;
    }
    // A new suspicion, or one at a higher incarnation: the member refuted the
    // older one in between (we missed it), so its timer starts afresh.
    this.clearSuspicion(m.id);
    m.inc = s.inc;
    if (m.status !== "suspect") this.table.setStatus(m, "suspect", this.now);
    const n = this.table.liveCount;
    let k = this.cfg.lifeguard ? this.cfg.suspicionMult - 2 : 0;
    if (n - 2 < k) k = 0;
    const susp = new Suspicion(
      s.from,
      k,
      suspicionMinMs(this.cfg, n),
      suspicionMaxMs(this.cfg, n),
      this.now,
    );
    this.suspicions.set(m.id, susp);
    this.timers.set(SUSPECT_TIMER + m.id, susp.deadline());
    if (this.cfg.lifeguard) this.scheduler.soon(m.id);
    this.emit("suspect", m);
    this.broadcast(s);
  }

  /** Applies a dead or left update. */
  protected applyDown(d: DeadUpdate | LeftUpdate): void {
    const m = this.table.get(d.id);
    if (!m) return;
    if (d.inc < m.inc || isDown(m.status)) return this.correct(m, d.inc);
    if (d.id === this.id) {
      if (!this.leaving) this.refute(d.inc);
      return this.correct(m, d.inc);
    }
    m.inc = d.inc;
    this.clearSuspicion(m.id);
    const status = d.t === "left" ? "left" : "dead";
    this.table.setStatus(m, status, this.now);
    this.emit(status, m);
    this.broadcast(d);
    this.armReaper();
  }

  /** A suspicion deadline passed: declare the member dead if it is still suspect. */
  protected suspicionExpired(id: string): void {
    const m = this.table.get(id);
    this.suspicions.delete(id);
    if (!m || m.status !== "suspect") return;
    this.applyDown({ t: "dead", id, inc: m.inc, from: this.id });
  }

  /**
   * Someone told us `m` is suspect or down at incarnation `inc`, but we know `m` alive at a
   * higher one (a refutation, ours or gossiped): the sender missed it. Gossip spends each update
   * on a few random members, so at small N a refutation can miss the very member whose
   * suspicion it answers, which would then declare a live member dead. Owe it the news.
   */
  protected correct(m: Member, inc: number): void {
    if (m.status !== "alive" || inc >= m.inc || (this.leaving && m.id === this.id)) return;
    if (this.corrections.some((u) => u.id === m.id)) return;
    this.corrections.push(
      m.id === this.id
        ? this.selfAlive()
        : { t: "alive", id: m.id, inc: m.inc, addr: m.addr, meta: { ...m.meta } },
    );
  }

  /** The corrections owed to the sender of the last datagram, at most `max` (emptied). */
  protected takeCorrections(max: number): Update[] {
    const out = this.corrections.slice(0, max);
    this.corrections = [];
    return out;
  }

  /** Someone says we are suspect, dead or differently alive: out-bid them. */
  protected refute(accusedInc: number): void {
    const self = this.table.self;
    self.inc = Math.max(self.inc + 1, accusedInc + 1);
    if (this.cfg.lifeguard) this.awareness.apply(1);
    this.broadcast(this.selfAlive());
  }

  /** The alive update describing the local node now. */
  protected selfAlive(): AliveUpdate {
    const s = this.table.self;
    return { t: "alive", id: s.id, inc: s.inc, addr: s.addr, meta: { ...s.meta } };
  }

  /** Queues an update for piggybacking and arms the gossip round. */
  protected broadcast(u: Update): void {
    this.queue.enqueue(u);
    if (!this.gossipArmed) {
      this.gossipArmed = true;
      this.timers.set(GOSSIP_TIMER, this.now + this.cfg.gossipIntervalMs);
    }
  }

  /** Expires tombstones and re-arms the reaper while any remain. */
  protected reap(): void {
    for (
      const id of this.table.expire(this.now, this.cfg.tombstoneMs, this.cfg.gossipToTheDeadMs)
    ) {
      this.clearSuspicion(id);
    }
    if (this.table.size > this.table.liveCount) this.armReaper();
  }

  /** Arms the tombstone reaper one probe interval ahead (if not armed). */
  protected armReaper(): void {
    if (this.timers.get(REAP_TIMER) === undefined) {
      this.timers.set(REAP_TIMER, this.now + this.cfg.probeIntervalMs);
    }
  }

  /** Emits a membership event about `m`. */
  protected emit(kind: SwimEventKind, m: Member): void {
    this.out.push({
      type: "event",
      event: { kind, id: m.id, inc: m.inc, addr: m.addr, meta: { ...m.meta }, at: this.now },
    });
  }

  #clearTimerOf(id: string): void {
    this.timers.clear(SUSPECT_TIMER + id);
  }

  /** Drops the suspicion of `id` and its deadline. */
  protected clearSuspicion(id: string): void {
    if (this.suspicions.delete(id)) this.#clearTimerOf(id);
  }
}

/** True if two metadata records hold the same entries. */
export function metaEqual(a: MemberMeta, b: MemberMeta): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
  return true;
}
