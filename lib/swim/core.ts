/**
 * The SWIM + Lifeguard core, sans-I/O (etcd-io/raft style): inputs are
 * received datagrams, push/pull states, `tick(now)` when the requested wake
 * time has come, and join / leave / metadata requests; outputs are effects
 * the shell drains with {@link SwimCore.drain}: datagrams to send, push/pull
 * exchanges to run over the stream transport, the next wake time and
 * membership events. Time is always passed in; randomness is injected.
 *
 * One protocol period (health-scaled with Lifeguard):
 * 1. ping the next member of a shuffled round-robin, piggybacking gossip (and,
 *    if the member is suspect, the suspicion itself first: the buddy system);
 * 2. no ack within the probe timeout → ping-req through `indirect_checks`
 *    random members, who nack (Lifeguard) if their own ping goes unanswered;
 * 3. no ack by the end of the period → suspect the member, with a timeout
 *    that shrinks as independent confirmations arrive; health rises by the
 *    missed nacks (or 1), and falls by 1 on each direct ack.
 * Gossip rounds every `gossip_interval_ms` send queued updates to
 * `gossip_nodes` random members; push/pull runs every (scaled)
 * `push_pull_interval_ms` with one random member.
 *
 * @module
 */
import type { Ack, MemberMeta, Nack, Ping, PingReq, PushPull, Update } from "../../proto/swim.ts";
import { type SwimDatagram, swimMessages, updateSizeBound } from "../../proto/swim.ts";
import { safeParse, type Schema } from "../../proto/schema.ts";
import { ElasticoreError } from "../errors.ts";
import { pushPullIntervalMs, retransmitLimit, type SwimConfig } from "./config.ts";
import {
  GOSSIP_TIMER,
  type LocalNode,
  MembershipState,
  REAP_TIMER,
  SUSPECT_TIMER,
} from "./state.ts";
import type { Member, RandomSource, SwimEffect } from "./types.ts";

const PROBE_TIMER = "probe";
const PROBE_TIMEOUT_TIMER = "probe_timeout";
const PUSH_PULL_TIMER = "push_pull";
const JOIN_TIMER = "join";
const RELAY_TIMER = "relay:";
/** Bytes reserved in a datagram for the envelope and the primary message. */
const DATAGRAM_OVERHEAD = 64;
/** Most ping-req relays in flight; more are refused (flood protection). */
const MAX_RELAYS = 1024;
/** Most corrections sent back for one datagram (each is a small alive message). */
const MAX_CORRECTIONS = 8;
/** Probe periods before a stranger that keeps pinging us is introduced again. */
const INTRODUCTION_BACKOFF_PERIODS = 8;
/** Strangers remembered at most (a bound against a flood of made-up ids). */
const MAX_INTRODUCTIONS = 256;

interface ProbeState {
  seq: number;
  target: string;
  indirect: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  origSeq: number;
  replyAddr: string;
  replyTo: string;
  nack: boolean;
}

/** Options of a {@link SwimCore}. */
export interface SwimCoreOptions {
  /** The local node. */
  self: LocalNode;
  /** Timing and fan-out parameters. */
  config: SwimConfig;
  /** Injected randomness (e.g. `lib/sim`'s `Prng`). */
  rng: RandomSource;
  /** Local time at creation, in ms. */
  now: number;
}

/** One node's SWIM protocol state machine. */
export class SwimCore extends MembershipState {
  #seq = 0;
  #probe: ProbeState | undefined;
  #relays = new Map<number, Relay>();
  /** Strangers we started a push/pull with, and when we may do so again. */
  #introductions = new Map<string, number>();
  #lastWake: number | undefined;
  #started = false;
  #joinSeeds: string[] = [];
  #joinAttempts = 0;
  #joined = false;

  /** Creates a stopped core; call {@link start}. */
  constructor(opts: SwimCoreOptions) {
    super(opts.self, opts.config, opts.rng, opts.now);
  }

  /** Takes the effects produced so far, oldest first. */
  drain(): SwimEffect[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** True once a join exchange with a seed succeeded (or no join was needed). */
  get joined(): boolean {
    return this.#joined;
  }

  /** Starts probing, gossip and push/pull, announcing ourselves alive. */
  start(now: number): void {
    this.now = now;
    if (this.#started) return this.#after();
    this.#started = true;
    const c = this.cfg;
    this.timers.set(PROBE_TIMER, now + this.rng.int(c.probeIntervalMs) + 1);
    this.timers.set(
      PUSH_PULL_TIMER,
      now + c.pushPullIntervalMs / 2 + this.rng.int(c.pushPullIntervalMs),
    );
    this.broadcast(this.selfAlive());
    this.#after();
  }

  /** Adds known members silently: a warm start (no gossip, no events). */
  bootstrap(members: PushPull["members"], now: number): void {
    this.now = now;
    this.bootstrapMembers(members);
    this.#joined = true;
    this.#after();
  }

  /** Joins through `seeds` (gossip addresses): a push/pull with each, retried until one answers. */
  join(seeds: readonly string[], now: number): void {
    this.now = now;
    this.#joinSeeds = seeds.filter((s) => s !== this.table.self.addr);
    this.#joinAttempts = 0;
    if (this.#joinSeeds.length === 0) {
      this.#joined = true;
      return this.#after();
    }
    this.#joined = false;
    this.#attemptJoin();
    this.#after();
  }

  /** Leaves gracefully: gossips "left" at a higher incarnation and stops probing. */
  leave(now: number): void {
    this.now = now;
    if (this.leaving) return this.#after();
    this.leaving = true;
    const self = this.table.self;
    self.inc++;
    this.table.setStatus(self, "left", now);
    this.#probe = undefined;
    this.timers.clear(PROBE_TIMER);
    this.timers.clear(PROBE_TIMEOUT_TIMER);
    this.timers.clear(PUSH_PULL_TIMER);
    this.timers.clear(JOIN_TIMER);
    this.broadcast({ t: "left", id: self.id, inc: self.inc });
    this.#gossipRound();
    this.#after();
  }

  /** Replaces our metadata and gossips it with a higher incarnation. */
  updateMeta(meta: MemberMeta, now: number): void {
    this.now = now;
    if (this.leaving) return this.#after();
    const self = this.table.self;
    self.meta = { ...meta };
    self.inc++;
    this.broadcast(this.selfAlive());
    this.#after();
  }

  /** The requested wake time has come (calling it early or late is harmless). */
  tick(now: number): void {
    this.now = now;
    this.#lastWake = undefined;
    for (let key = this.timers.popDue(now); key; key = this.timers.popDue(now)) {
      this.#fire(key);
    }
    this.#after();
  }

  /** A datagram arrived from `fromAddr`. */
  receive(fromAddr: string, msg: SwimDatagram, now: number): void {
    this.now = now;
    const from = msg.body.from;
    if (from === this.id || from.length === 0) return this.#after();
    const gossip = msg.body.gossip;
    this.corrections = [];
    if (gossip) { for (const u of gossip) this.applyUpdate(u); }
    const owed = this.takeCorrections(MAX_CORRECTIONS);
    const pingForUs = msg.type === "swim.ping" && msg.body.target === this.id;
    switch (msg.type) {
      case "swim.ping":
        this.#onPing(fromAddr, msg.body, owed);
        break;
      case "swim.ping_req":
        this.#onPingReq(fromAddr, msg.body);
        break;
      case "swim.ack":
        this.#onAck(msg.body);
        break;
      case "swim.nack":
        this.#onNack(msg.body);
        break;
      case "swim.gossip":
        break;
    }
    // What we owe the sender goes back on the ack to its ping, or else in a datagram of its own.
    if (owed.length > 0 && !pingForUs) {
      this.#send(
        fromAddr,
        from,
        { type: "swim.gossip", body: { from: this.id, gossip: [] } },
        owed,
      );
    }
    this.#after();
  }

  /**
   * Validates and handles a decoded datagram of unknown shape (what a
   * transport hands over). Returns an error naming what is wrong, or
   * undefined when the message was accepted. Never throws.
   */
  receiveUnknown(
    fromAddr: string,
    type: string,
    body: unknown,
    now: number,
  ): ElasticoreError | undefined {
    if (type === "swim.push_pull" || !Object.hasOwn(swimMessages, type)) {
      return new ElasticoreError("swim_bad_message", `unexpected datagram type "${type}"`);
    }
    const schema: Schema<unknown> = swimMessages[type as keyof typeof swimMessages];
    const r = safeParse(schema, body);
    if (!r.ok) {
      return new ElasticoreError("swim_bad_message", `${type}: ${r.error.message}`);
    }
    this.receive(fromAddr, { type, body: r.value } as SwimDatagram, now);
    return undefined;
  }

  /** The stream fallback ping `seq` was answered. */
  streamAck(seq: number, now: number): void {
    this.now = now;
    const p = this.#probe;
    if (p && p.seq === seq) {
      this.#probe = undefined;
      this.timers.clear(PROBE_TIMEOUT_TIMER);
    }
    this.#after();
  }

  /** Answers a ping received over the stream transport (undefined if it is not for us). */
  answerStreamPing(ping: Ping): Ack | undefined {
    if (ping.target !== this.id) return undefined;
    return { seq: ping.seq, from: this.id };
  }

  /** The passive side of push/pull: merges the remote state and returns ours (computed first). */
  handlePushPull(remote: PushPull, now: number): PushPull {
    this.now = now;
    const local = this.localState(false);
    if (remote.from !== this.id) this.mergeState(remote);
    this.#after();
    return local;
  }

  /** The active side of push/pull: the peer answered with `remote`. */
  mergeRemoteState(remote: PushPull, now: number): void {
    this.now = now;
    if (remote.from !== this.id && remote.from.length > 0) {
      this.mergeState(remote);
      if (!this.#joined) {
        this.#joined = true;
        this.timers.clear(JOIN_TIMER);
      }
    }
    this.#after();
  }

  #fire(key: string): void {
    if (key === PROBE_TIMER) return this.#probeTick();
    if (key === PROBE_TIMEOUT_TIMER) return this.#probeTimeout();
    if (key === GOSSIP_TIMER) return this.#gossipTick();
    if (key === PUSH_PULL_TIMER) return this.#pushPullTick();
    if (key === REAP_TIMER) return this.reap();
    if (key === JOIN_TIMER) return this.#joinTick();
    if (key.startsWith(SUSPECT_TIMER)) {
      return this.suspicionExpired(key.slice(SUSPECT_TIMER.length));
    }
    if (key.startsWith(RELAY_TIMER)) {
      return this.#relayExpired(Number(key.slice(RELAY_TIMER.length)));
    }
  }

  #scaled(ms: number): number {
    return this.cfg.lifeguard ? this.awareness.scale(ms) : ms;
  }

  #retransmitLimit(): number {
    return retransmitLimit(this.cfg.retransmitMult, this.table.liveCount);
  }

  #send(addr: string, to: string | undefined, msg: SwimDatagram, first: Update[] = []): void {
    const budget = this.cfg.maxDatagramBytes - DATAGRAM_OVERHEAD - 2 * this.id.length;
    let gossip = first;
    const rest = this.queue.take(budget - sizeOf(first), this.#retransmitLimit());
    if (rest.length > 0) gossip = first.length > 0 ? [...first, ...rest] : rest;
    if (gossip.length > 0) msg.body.gossip = gossip;
    this.out.push(to === undefined ? { type: "send", addr, msg } : { type: "send", addr, to, msg });
  }

  #probeTick(): void {
    if (this.leaving) return;
    this.#finishProbe();
    const interval = this.#scaled(this.cfg.probeIntervalMs);
    this.timers.set(PROBE_TIMER, this.now + interval);
    const target = this.scheduler.next(this.table.live, this.rng);
    if (target === undefined) return;
    const m = this.table.get(target)!;
    const seq = ++this.#seq;
    this.#probe = { seq, target, indirect: false, expectedNacks: 0, nacks: 0 };
    this.#send(
      m.addr,
      m.id,
      { type: "swim.ping", body: { seq, from: this.id, target } },
      this.#buddy(m),
    );
    this.timers.set(PROBE_TIMEOUT_TIMER, this.now + this.#scaled(this.cfg.probeTimeoutMs));
  }

  /** Lifeguard's buddy system: a probe of a suspect member carries our suspicion of it. */
  #buddy(m: Member): Update[] {
    return this.cfg.lifeguard && m.status === "suspect"
      ? [{ t: "suspect", id: m.id, inc: m.inc, from: this.id }]
      : [];
  }

  #probeTimeout(): void {
    const p = this.#probe;
    if (!p) return;
    const m = this.table.get(p.target);
    if (!m) return;
    p.indirect = true;
    const peers = this.table.live.sample(this.rng, this.cfg.indirectChecks, new Set([p.target]));
    for (const peer of peers) {
      const body: PingReq = {
        seq: p.seq,
        from: this.id,
        target: p.target,
        targetAddr: m.addr,
        nack: this.cfg.lifeguard,
      };
      // The suspicion rides along here too: a relay that heard the target refute answers with
      // its alive message at once (see `correct`).
      this.#send(
        this.table.get(peer)!.addr,
        peer,
        { type: "swim.ping_req", body },
        this.#buddy(m),
      );
    }
    p.expectedNacks = this.cfg.lifeguard ? peers.length : 0;
    if (this.cfg.streamFallbackPing) {
      this.out.push({
        type: "stream_ping",
        addr: m.addr,
        to: m.id,
        ping: { seq: p.seq, from: this.id, target: p.target },
      });
    }
  }

  /** The period of the current probe ended without an ack: suspect the target. */
  #finishProbe(): void {
    const p = this.#probe;
    if (!p) return;
    this.#probe = undefined;
    this.timers.clear(PROBE_TIMEOUT_TIMER);
    if (this.cfg.lifeguard) {
      this.awareness.apply(p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1);
    }
    const m = this.table.get(p.target);
    if (!m || m.status === "dead" || m.status === "left") return;
    this.applySuspect({ t: "suspect", id: m.id, inc: m.inc, from: this.id });
  }

  #onPing(fromAddr: string, ping: Ping, owed: Update[]): void {
    if (ping.target !== this.id) return;
    // A member we hold dead is probing us: it was cut off while it was declared dead and the
    // gossip about it ran out meanwhile. Tell it with the ack, so it refutes now instead of at
    // its next push/pull, up to 45 s later, out of everyone's view until then (DFS-10).
    const sender = this.table.get(ping.from);
    const notice: Update[] = sender?.status === "dead"
      ? [{ t: "dead", id: sender.id, inc: sender.inc, from: this.id }]
      : [];
    if (sender === undefined) this.#introduce(fromAddr, ping.from);
    // `owed` answers the stale news the ping carried: above all the suspicion of us that
    // Lifeguard's buddy system puts on a ping, which our alive message out-bids.
    this.#send(
      fromAddr,
      ping.from,
      { type: "swim.ack", body: { seq: ping.seq, from: this.id } },
      [...notice, ...owed],
    );
  }

  /**
   * A member we never heard of is probing us, so it knows us: the gossip about its joining ran
   * out before it reached us. A push/pull with it (found by discovery at its address) tells each
   * side all the other knows, instead of leaving us blind to it until our next periodic push/pull.
   */
  #introduce(addr: string, id: string): void {
    if (this.leaving || id === this.id || id.length === 0) return;
    const until = this.#introductions.get(id);
    if (until !== undefined && this.now < until) return;
    if (this.#introductions.size >= MAX_INTRODUCTIONS) {
      for (const [k, t] of this.#introductions) if (t <= this.now) this.#introductions.delete(k);
      if (this.#introductions.size >= MAX_INTRODUCTIONS) return;
    }
    const backoff = INTRODUCTION_BACKOFF_PERIODS * this.cfg.probeIntervalMs;
    this.#introductions.set(id, this.now + backoff);
    this.out.push({ type: "push_pull", addr, state: this.localState(false) });
  }

  #onPingReq(fromAddr: string, req: PingReq): void {
    if (req.target === this.id || req.targetAddr.length === 0) {
      // Asked to probe ourselves: the answer is known.
      this.#send(fromAddr, req.from, { type: "swim.ack", body: { seq: req.seq, from: this.id } });
      return;
    }
    if (this.#relays.size >= MAX_RELAYS) return;
    const seq = ++this.#seq;
    this.#relays.set(seq, {
      origSeq: req.seq,
      replyAddr: fromAddr,
      replyTo: req.from,
      nack: req.nack,
    });
    this.timers.set(RELAY_TIMER + seq, this.now + this.cfg.probeTimeoutMs);
    const target = this.table.get(req.target);
    this.#send(req.targetAddr, target ? target.id : req.target, {
      type: "swim.ping",
      body: { seq, from: this.id, target: req.target },
    });
  }

  #onAck(ack: Ack): void {
    const p = this.#probe;
    if (p && p.seq === ack.seq) {
      this.#probe = undefined;
      this.timers.clear(PROBE_TIMEOUT_TIMER);
      if (this.cfg.lifeguard && !p.indirect) this.awareness.apply(-1);
      return;
    }
    const r = this.#relays.get(ack.seq);
    if (!r) return;
    this.#relays.delete(ack.seq);
    this.timers.clear(RELAY_TIMER + ack.seq);
    this.#send(r.replyAddr, r.replyTo, {
      type: "swim.ack",
      body: { seq: r.origSeq, from: this.id },
    });
  }

  #onNack(nack: Nack): void {
    const p = this.#probe;
    if (p && p.seq === nack.seq && p.nacks < p.expectedNacks) p.nacks++;
  }

  #relayExpired(seq: number): void {
    const r = this.#relays.get(seq);
    if (!r) return;
    this.#relays.delete(seq);
    if (r.nack) {
      this.#send(r.replyAddr, r.replyTo, {
        type: "swim.nack",
        body: { seq: r.origSeq, from: this.id },
      });
    }
  }

  #gossipTick(): void {
    this.#gossipRound();
    if (this.queue.size > 0) {
      this.timers.set(GOSSIP_TIMER, this.now + this.cfg.gossipIntervalMs);
    } else {
      this.gossipArmed = false;
    }
  }

  /** Sends queued updates to `gossip_nodes` random members (recently dead ones included). */
  #gossipRound(): void {
    if (this.queue.size === 0) return;
    const live = this.table.live;
    const down = this.table.recentlyDown;
    const total = live.size + down.size;
    const want = Math.min(this.cfg.gossipNodes, total);
    const chosen = new Set<string>();
    for (let tries = 0; chosen.size < want && tries < 4 * want + 4; tries++) {
      const r = this.rng.int(total);
      chosen.add(r < live.size ? live.at(r) : down.at(r - live.size));
    }
    const budget = this.cfg.maxDatagramBytes - DATAGRAM_OVERHEAD - this.id.length;
    const limit = this.#retransmitLimit();
    for (const id of chosen) {
      const gossip = this.queue.take(budget, limit);
      if (gossip.length === 0) break;
      const m = this.table.get(id)!;
      this.out.push({
        type: "send",
        addr: m.addr,
        to: id,
        msg: { type: "swim.gossip", body: { from: this.id, gossip } },
      });
    }
  }

  #pushPullTick(): void {
    if (this.leaving) return;
    const n = this.table.liveCount;
    this.timers.set(PUSH_PULL_TIMER, this.now + pushPullIntervalMs(this.cfg, n));
    const peers = this.table.live.sample(this.rng, 1);
    if (peers.length === 0) return;
    const m = this.table.get(peers[0])!;
    this.out.push({ type: "push_pull", addr: m.addr, to: m.id, state: this.localState(false) });
  }

  #attemptJoin(): void {
    this.#joinAttempts++;
    const state = this.localState(true);
    for (const addr of this.#joinSeeds) this.out.push({ type: "push_pull", addr, state });
    const backoff = Math.min(8, 2 ** (this.#joinAttempts - 1));
    this.timers.set(JOIN_TIMER, this.now + this.cfg.joinRetryMs * backoff);
  }

  #joinTick(): void {
    if (this.#joined || this.leaving) return;
    const max = this.cfg.joinMaxAttempts;
    if (max > 0 && this.#joinAttempts >= max) {
      this.out.push({ type: "join_failed", attempts: this.#joinAttempts });
      return;
    }
    this.#attemptJoin();
  }

  /** Emits a wake effect when the earliest deadline changed. */
  #after(): void {
    const next = this.timers.next();
    if (next !== undefined && next !== this.#lastWake) {
      this.#lastWake = next;
      this.out.push({ type: "wake", at: next });
    }
  }
}

function sizeOf(updates: Update[]): number {
  let n = 0;
  for (const u of updates) n += updateSizeBound(u);
  return n;
}
