/**
 * The sans-I/O Chord ring maintenance core, following Pamela Zave's corrected
 * protocol ("Reasoning about identifier spaces: How to make Chord correct").
 *
 * Inputs are messages ({@link RingNode.step}), ticks ({@link RingNode.tick}),
 * requests (join, lookup) and liveness hints from SWIM; outputs are effects
 * collected by {@link RingNode.ready}: messages to send, lookup results and
 * neighbour changes. Time is counted in ticks; there is no clock, randomness
 * or I/O inside.
 *
 * The corrections over the original Chord that this core implements:
 * - join copies the new successor's successor list (not just one pointer);
 * - stabilize reconciles the whole successor list with the successor's, and
 *   skips a dead successor to the next live entry of the list;
 * - a successor's predecessor is adopted only after it answered (it is live);
 * - notify rectifies: a notifier replaces a predecessor that is dead.
 *
 * @module
 */
import type { RingMessage } from "../../../proto/dfs_ring.ts";
import {
  fingerStart,
  inOpen,
  inOpenClosed,
  type RingId,
  ringIdFromHex,
  ringIdToHex,
} from "./id.ts";
import { FingerTable, type Peer, peerOf, reconcile } from "./fingers.ts";
import { localReplicas, type LocalView, lookupStep, type StepResult } from "./view.ts";
import { LookupEngine, type LookupPurpose, type LookupResult } from "./lookup.ts";
import { PeerHealth, PendingRequests } from "./liveness.ts";
import { Predecessor } from "./predecessor.ts";
import {
  type Pending,
  resolveTimers,
  type RingConfig,
  type RingEffect,
  type RingSnapshot,
  type RingStatus,
  type RingTimers,
} from "./types.ts";

export type { LookupResult, RingConfig, RingEffect, RingSnapshot, RingStatus };

/** Most SWIM join hints queued while a stabilize round is in flight. */
const MAX_HINTS = 16;

/** One node's Chord state machine. */
export class RingNode {
  /** This node. */
  readonly self: Peer;
  /** Successor-list length r. */
  readonly r: number;
  readonly #cfg: RingTimers;
  #status: RingStatus = "idle";
  #now = 0;
  #succs: Peer[] = [];
  readonly #prd: Predecessor;
  readonly #fingers: FingerTable;
  #effects: RingEffect[] = [];
  readonly #pending = new PendingRequests<Pending>();
  #stabilizing = false;
  #stabMisses = 0;
  readonly #health = new PeerHealth();
  #rejoin = false;
  #hadSuccessor = false;
  #joinActive = false;
  #hints: Peer[] = [];
  readonly #lookups: LookupEngine;

  /** Creates an idle node; call {@link create}, {@link bootstrap} or {@link join} next. */
  constructor(cfg: RingConfig) {
    this.self = peerOf(cfg.self);
    this.r = cfg.successors ?? 4;
    if (!Number.isInteger(this.r) || this.r < 1 || this.r > 64) {
      throw new RangeError(`successor list length must be in 1..64, got ${this.r}`);
    }
    this.#cfg = resolveTimers(cfg);
    this.#fingers = new FingerTable(this.self);
    this.#prd = new Predecessor(this.self, this.#cfg.checkPredecessorTicks);
    this.#lookups = new LookupEngine(this.self, {
      send: (lookup, to, key, avoid) => this.#sendFind(lookup, to, key, avoid),
      local: (key, excluded) => this.#localStep(key, excluded),
      finish: (_lookup, purpose, result) => this.#finishLookup(purpose, result),
      maxLookups: this.#cfg.maxLookups,
    });
  }

  /** Current life stage. */
  get status(): RingStatus {
    return this.#status;
  }

  /** Ticks seen so far. */
  get now(): number {
    return this.#now;
  }

  /** The successor list, nearest first. */
  successors(): string[] {
    return this.#succs.map((p) => p.id);
  }

  /** The first successor, or this node itself when it is alone. */
  successor(): string {
    return this.#succs[0]?.id ?? this.self.id;
  }

  /** The predecessor, or null if unknown. */
  predecessor(): string | null {
    return this.#prd.peer?.id ?? null;
  }

  /** Node ids of the finger table (null where unknown). */
  fingers(): (string | null)[] {
    return this.#fingers.ids();
  }

  /** A summary of this node's state, for status views and diagnostics. */
  snapshot(): RingSnapshot {
    return {
      id: this.self.id,
      ringId: ringIdToHex(this.self.rid),
      status: this.#status,
      predecessor: this.predecessor(),
      successors: this.successors(),
      fingers: new Set(this.#fingers.ids().filter((x) => x !== null)).size,
      pendingRequests: this.#pending.size,
      lookups: this.#lookups.active,
      suspects: this.#health.suspects(),
      contacts: this.#health.contacts(),
      rejoining: this.#rejoin,
      stabilizing: this.#stabilizing,
    };
  }

  /** Starts a new ring containing only this node. */
  create(): void {
    this.#status = "member";
    this.#succs = [];
    this.#prd.set(null, this.#now);
    this.#emitNeighbors();
  }

  /**
   * Zave's initialization: become a member of a correct ring whose members
   * are all of `members` (which must contain this node), e.g. from the
   * cluster's static configuration. Fingers are computed from the same list.
   */
  bootstrap(members: readonly string[]): void {
    const sorted = [...new Set(members)].map(peerOf).sort((a, b) =>
      a.rid < b.rid ? -1 : a.rid > b.rid ? 1 : 0
    );
    const at = sorted.findIndex((p) => p.id === this.self.id);
    if (at < 0) throw new RangeError(`bootstrap members must include ${this.self.id}`);
    const n = sorted.length;
    this.#succs = [];
    for (let k = 1; k < n && this.#succs.length < this.r; k++) {
      this.#succs.push(sorted[(at + k) % n]);
    }
    this.#prd.set(n > 1 ? sorted[(at - 1 + n) % n] : null, this.#now);
    this.#hadSuccessor = n > 1;
    this.#fingers.fillFrom(sorted);
    this.#status = "member";
    this.#emitNeighbors();
  }

  /** Joins the ring through `via`, any member: looks up this node's successor. */
  join(via: string): void {
    if (via === this.self.id) throw new RangeError("a node cannot join through itself");
    this.#health.addContact(via);
    if (this.#status !== "member") this.#status = "joining";
    this.#startJoin(peerOf(via));
  }

  /**
   * Starts an iterative lookup of `key`'s successor. The result arrives as a
   * `lookup` effect carrying the returned id.
   */
  lookup(key: RingId): number {
    return this.#lookups.start(key, { kind: "user" }, null);
  }

  /**
   * The `rf` successors of `key` as this node knows them: exact when the key
   * falls in this node's own range or within its successor list, otherwise
   * the nearest known nodes at or after the key (use {@link lookup} then).
   */
  replicasFor(key: RingId, rf: number): string[] {
    return localReplicas(this.#view(), key, rf);
  }

  /** True if this node is responsible for `key`: `key ∈ (predecessor, self]`. */
  owns(key: RingId): boolean {
    if (this.#status !== "member") return false;
    if (this.#prd.peer === null) return this.#succs.length === 0;
    return inOpenClosed(key, this.#prd.peer.rid, this.self.rid);
  }

  /** SWIM says `id` is dead: drop it everywhere and repair now instead of next round. */
  onMemberDead(id: string): void {
    if (id === this.self.id) return;
    this.#health.suspect(id, this.#now + this.#cfg.suspectTicks * 4, true);
    for (const p of this.#pending.takeWhere((p) => p.to.id === id)) this.#onTimeout(p);
    const before = this.#succs.length;
    this.#succs = this.#succs.filter((p) => p.id !== id);
    this.#fingers.remove(id);
    let changed = this.#succs.length !== before;
    if (this.#prd.peer?.id === id) {
      this.#prd.set(null, this.#now);
      changed = true;
    }
    if (!changed) return;
    this.#health.addContact(id);
    this.#afterSuccessorLoss();
    this.#emitNeighbors();
    if (this.#status === "member") this.#stabilize();
  }

  /** SWIM says `id` joined (or came back): clear suspicion and use it to repair now. */
  onMemberJoined(id: string): void {
    if (id === this.self.id) return;
    this.#health.clear(id);
    this.#health.addContact(id);
    const p = peerOf(id);
    if (this.#status === "joining") {
      this.#startJoin(p);
      return;
    }
    if (this.#status !== "member") return;
    if (inOpen(p.rid, this.self.rid, this.successorRid())) {
      if (!this.#stabilizing) this.#update(p);
      else if (this.#hints.length < MAX_HINTS && !this.#hints.some((h) => h.id === id)) {
        this.#hints.push(p); // bounded: later hints are dropped, stabilize finds them anyway
      }
    }
  }

  /** The ring id of the first successor (own id when alone). */
  successorRid(): RingId {
    return this.#succs[0]?.rid ?? this.self.rid;
  }

  /** Advances logical time by one tick: periodic rounds and request timeouts. */
  tick(): void {
    this.#now++;
    for (const p of this.#pending.takeWhere((p) => p.due <= this.#now)) this.#onTimeout(p);
    this.#health.expire(this.#now);
    if (this.#status === "joining") {
      // The join lookup failed (its contact died): retry through another contact.
      const via = this.#joinActive ? undefined : this.#health.nextContact();
      if (via !== undefined) this.#startJoin(peerOf(via));
      return;
    }
    if (this.#status !== "member") return;
    const c = this.#cfg;
    if (this.#now % c.stabilizeTicks === 0) this.#stabilize();
    if (this.#now % c.fixFingersTicks === 0) this.#fixFingers();
    this.#checkPredecessor();
  }

  /** Handles one message from node `from`. */
  step(from: string, msg: RingMessage): void {
    if (from === this.self.id) return;
    this.#heard(from);
    switch (msg.type) {
      case "ring.state_req": {
        // Only members answer: a joining node must never be adopted as a successor.
        if (this.#status !== "member") return;
        const { req, notify } = msg.body;
        if (notify) this.#rectify(peerOf(from));
        this.#send(from, {
          type: "ring.state_resp",
          body: { req, pred: this.#prd.peer?.id ?? null, succs: this.successors() },
        });
        return;
      }
      case "ring.state_resp": {
        const p = this.#pending.take(msg.body.req, from);
        if (p?.kind === "stab") this.#onSuccessorState(p.to, msg.body.pred, msg.body.succs);
        else if (p?.kind === "update") this.#onUpdateState(p.to, msg.body.succs);
        return;
      }
      case "ring.find_req": {
        if (this.#status !== "member") return;
        const key = ringIdFromHex(msg.body.key);
        const r = this.#localStep(key, msg.body.avoid ? new Set(msg.body.avoid) : null);
        this.#send(from, {
          type: "ring.find_resp",
          body: "done" in r
            ? { req: msg.body.req, done: true, next: null, succs: r.done.map((x) => x.id) }
            : { req: msg.body.req, done: false, next: r.next.id, succs: [] },
        });
        return;
      }
      case "ring.find_resp": {
        const p = this.#pending.take(msg.body.req, from);
        if (p?.kind !== "find") return;
        const b = msg.body;
        if (b.done) this.#lookups.onDone(p.lookup, p.to, b.succs);
        else this.#lookups.onNext(p.lookup, p.to, b.next);
        return;
      }
      case "ring.ping":
        this.#send(from, { type: "ring.pong", body: { req: msg.body.req } });
        return;
      case "ring.pong":
        if (this.#pending.take(msg.body.req, from)?.kind === "ping") this.#prd.probeAnswered();
        return;
    }
  }

  /** Takes the effects produced since the last call (messages, results, changes). */
  ready(): RingEffect[] {
    const out = this.#effects;
    this.#effects = [];
    return out;
  }

  /** True if effects are waiting for {@link ready}. */
  hasReady(): boolean {
    return this.#effects.length > 0;
  }

  // ---- stabilize, update, rectify ----

  #stabilize(): void {
    if (this.#stabilizing) return;
    const s = this.#succs[0];
    if (s === undefined) {
      // A ring of one that someone joined: the predecessor is also the successor.
      if (this.#prd.peer) this.#update(this.#prd.peer);
      return;
    }
    this.#stateRequest("stab", s);
  }

  #onSuccessorState(s: Peer, pred: string | null, succs: readonly string[]): void {
    this.#stabMisses = 0;
    this.#setSuccessors(reconcile(this.self, s, succs, this.r, (id) => this.#health.isDead(id)));
    this.#stabilizing = false;
    // A suspected predecessor is still asked: the update query itself tests liveness.
    if (pred !== null && pred !== this.self.id) {
      const p = peerOf(pred);
      if (inOpen(p.rid, this.self.rid, s.rid)) {
        this.#update(p);
        return;
      }
    }
    this.#nextHint();
  }

  /** Zave's update: adopt `p` as successor only once it has answered (it is live). */
  #update(p: Peer): void {
    this.#stateRequest("update", p);
  }

  /** Asks `to` for its predecessor and successor list, offering this node as its predecessor. */
  #stateRequest(kind: "stab" | "update", to: Peer): void {
    this.#stabilizing = true;
    const msg = (req: number): RingMessage => ({
      type: "ring.state_req",
      body: { req, notify: true },
    });
    this.#request(to, { kind, to, due: 0 }, msg);
  }

  #onUpdateState(p: Peer, succs: readonly string[]): void {
    this.#stabilizing = false;
    if (this.#succs.length === 0 || inOpen(p.rid, this.self.rid, this.#succs[0].rid)) {
      this.#setSuccessors(
        reconcile(this.self, p, succs, this.r, (id) => this.#health.isDead(id)),
      );
    }
    this.#nextHint();
  }

  #nextHint(): void {
    while (this.#hints.length > 0) {
      const h = this.#hints.shift()!;
      if (!this.#health.isSuspect(h.id) && inOpen(h.rid, this.self.rid, this.successorRid())) {
        this.#update(h);
        return;
      }
    }
  }

  /** Zave's rectify on a notify from `c` (see {@link Predecessor.rectify}). */
  #rectify(c: Peer): void {
    const d = this.#prd.rectify(c, this.#now, (id) => this.#health.isSuspect(id));
    if (d === "adopt") this.#setPredecessor(c);
    else if (d === "probe") this.#checkPredecessor();
  }

  /** Probes the predecessor if it has been silent for too long. */
  #checkPredecessor(): void {
    const pred = this.#prd.startProbe(this.#now);
    if (pred === null) return;
    this.#request(pred, { kind: "ping", to: pred, due: 0 }, (req) => ({
      type: "ring.ping",
      body: { req },
    }));
  }

  #fixFingers(): void {
    const due = this.#fingers.due(
      this.#succs[0] ?? null,
      this.#cfg.fingersPerRound,
      (i) => this.#lookups.hasFinger(i),
    );
    for (const i of due) {
      this.#lookups.start(fingerStart(this.self.rid, i), { kind: "finger", index: i }, null);
    }
  }

  // ---- lookups and joins ----

  #startJoin(via: Peer): void {
    if (this.#joinActive) return;
    this.#joinActive = true;
    this.#lookups.start(this.self.rid, { kind: "join" }, via);
  }

  /** One lookup step at this node: the answer, or the next node to ask. */
  #localStep(key: RingId, excluded: ReadonlySet<string> | null): StepResult {
    if (this.#status !== "member") return { done: [] };
    return lookupStep(
      this.#view(),
      key,
      (p) => !this.#health.isSuspect(p.id) && !(excluded?.has(p.id) ?? false),
    );
  }

  #view(): LocalView {
    return { self: this.self, pred: this.#prd.peer, succs: this.#succs, fingers: this.#fingers };
  }

  #sendFind(lookup: number, to: Peer, key: RingId, avoid: readonly string[]): void {
    this.#request(to, { kind: "find", to, due: 0, lookup }, (req) => ({
      type: "ring.find_req",
      body: { req, key: ringIdToHex(key), ...(avoid.length > 0 ? { avoid: [...avoid] } : {}) },
    }));
  }

  #finishLookup(purpose: LookupPurpose, result: LookupResult): void {
    if (purpose.kind === "user") {
      this.#effects.push(result);
    } else if (purpose.kind === "finger") {
      this.#fingers.set(purpose.index, result.ok ? peerOf(result.owner) : null);
    } else {
      this.#joinActive = false;
      if (!result.ok) return;
      const list = result.replicas.filter((id) => id !== this.self.id);
      if (list.length === 0) return;
      const head = peerOf(list[0]);
      this.#setSuccessors(reconcile(this.self, head, list.slice(1), this.r));
      this.#status = "member";
      this.#rejoin = false;
      this.#effects.push({ kind: "joined", successor: head.id });
      this.#stabilizing = false;
      this.#stabilize();
    }
  }

  // ---- plumbing ----

  #request(to: Peer, p: Pending, make: (req: number) => RingMessage): number {
    const req = this.#pending.open(p, this.#now + this.#cfg.requestTimeoutTicks);
    this.#send(to.id, make(req));
    return req;
  }

  #onTimeout(p: Pending): void {
    this.#suspect(p.to.id, this.#cfg.suspectTicks);
    switch (p.kind) {
      case "stab": {
        this.#stabilizing = false;
        const again = ++this.#stabMisses < this.#cfg.successorAttempts;
        if (again && !this.#health.isDead(p.to.id) && this.#succs[0]?.id === p.to.id) {
          this.#stateRequest("stab", p.to); // a lost message looks like a death: ask again
          return;
        }
        // The successor is dead (or unreachable): skip to the next live entry.
        this.#stabMisses = 0;
        this.#succs = this.#succs.filter((x) => x.id !== p.to.id);
        this.#fingers.remove(p.to.id);
        this.#health.addContact(p.to.id);
        this.#afterSuccessorLoss();
        this.#emitNeighbors();
        if (this.#succs.length > 0) this.#stabilize();
        return;
      }
      case "update":
        this.#stabilizing = false;
        this.#nextHint();
        return;
      case "ping":
        if (this.#prd.probeFailed(p.to, this.#now, (id) => this.#health.isSuspect(id))) {
          this.#emitNeighbors();
        }
        return;
      case "find":
        this.#fingers.remove(p.to.id);
        this.#lookups.onTimeout(p.lookup, p.to);
        return;
    }
  }

  /**
   * Every successor failed. Zave's protocol assumes this never happens to a
   * member; when it does (e.g. this node was partitioned away), the node
   * stops acting as a member, so that its empty list never spreads to its
   * predecessors, and rejoins by a lookup through its predecessor or a
   * contact, exactly like a new node.
   */
  #afterSuccessorLoss(): void {
    if (this.#status !== "member" || this.#succs.length > 0 || !this.#hadSuccessor) return;
    this.#rejoin = true;
    this.#status = "joining";
    this.#stabilizing = false;
    if (this.#prd.peer) this.#health.addContact(this.#prd.peer.id);
    this.#effects.push({ kind: "alone" });
  }

  #heard(id: string): void {
    this.#health.clear(id);
    this.#prd.heardFrom(id, this.#now);
  }

  #suspect(id: string, ticks: number): void {
    this.#health.suspect(id, this.#now + ticks);
  }

  #setPredecessor(p: Peer): void {
    this.#prd.set(p, this.#now);
    this.#emitNeighbors();
  }

  #setSuccessors(list: Peer[]): void {
    this.#succs = list;
    if (list.length > 0) this.#hadSuccessor = true;
    this.#emitNeighbors();
  }

  #lastNeighbors = "";
  #emitNeighbors(): void {
    const key = `${this.#prd.peer?.id ?? ""}|${this.#succs.map((p) => p.id).join(",")}`;
    if (key === this.#lastNeighbors) return;
    this.#lastNeighbors = key;
    this.#effects.push({
      kind: "neighbors",
      predecessor: this.#prd.peer?.id ?? null,
      successors: this.successors(),
    });
  }

  #send(to: string, msg: RingMessage): void {
    this.#effects.push({ kind: "send", to, msg });
  }
}
