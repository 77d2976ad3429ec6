/**
 * The sans-I/O Raft core in the etcd-io/raft style: feed it messages with
 * `step`, time with `tick` and requests with `propose`, `proposeConfChange`,
 * `readIndex` and `transferLeadership`; collect effects with `ready()` and
 * acknowledge them with `advance()`. Randomness is injected; there is no
 * clock, timer, network or disk in here.
 *
 * @module
 */
import type { PrevoteMsg, VoteMsg } from "../../proto/raft.ts";
import { ElasticoreError } from "../errors.ts";
import {
  applyConfChange,
  type ConfChange,
  ConfChangeError,
  encodeConfEntry,
} from "./confchange.ts";
import { handleAppend, handleHeartbeat, handleSnapshot } from "./follower.ts";
import { Leader } from "./leader.ts";
import { RaftLog } from "./log.ts";
import { tallyVotes } from "./progress.ts";
import {
  type ConfState,
  type HardState,
  NONE,
  type ProposeResult,
  RaftInvariantError,
  type RaftMessage,
  type RaftOptions,
  type RaftStatus,
  type ReadState,
  type Ready,
  type Refusal,
  type RequestResult,
  type Role,
  type Snapshot,
} from "./types.ts";

/** One Raft node's protocol state machine. */
export class Raft {
  /** This node's id. */
  readonly id: string;
  /** The log. */
  readonly log: RaftLog;
  #term: number;
  #vote: string;
  #lead = NONE;
  #role: Role = "follower";
  #conf: ConfState = { voters: [], learners: [] };
  #confKey = "";
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedTimeout = 0;
  #votes = new Map<string, boolean>();
  #msgs: RaftMessage[] = [];
  #readStates: ReadState[] = [];
  #leader: Leader | undefined;
  #prevHs: HardState;
  #prevSoft: { lead: string; role: Role };
  #readyOut = false;
  readonly #random: () => number;
  readonly #electionTick: number;
  readonly #heartbeatTick: number;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #voteIgnoresLog: boolean;
  readonly #leaderCfg: ConstructorParameters<typeof Leader>[1];

  /** Creates a core from persisted state (a fresh node persists an index-0 snapshot). */
  constructor(opts: RaftOptions) {
    this.id = opts.id;
    this.#random = opts.random;
    this.#electionTick = opts.electionTick ?? 10;
    this.#heartbeatTick = opts.heartbeatTick ?? 2;
    if (this.#heartbeatTick >= this.#electionTick) {
      throw new ElasticoreError(
        "raft_bad_options",
        `heartbeatTick (${this.#heartbeatTick}) must be smaller than electionTick (${this.#electionTick})`,
      );
    }
    this.#preVote = opts.preVote ?? true;
    this.#checkQuorum = opts.checkQuorum ?? true;
    this.#voteIgnoresLog = opts.unsafeTesting?.voteIgnoresLog ?? false;
    this.#leaderCfg = {
      maxEntriesPerMsg: opts.maxEntriesPerMsg ?? 64,
      maxBytesPerMsg: opts.maxBytesPerMsg ?? 256 * 1024,
      maxInflight: opts.maxInflight ?? 16,
      maxUncommittedEntries: opts.maxUncommittedEntries ?? 4096,
      maxPendingReads: opts.maxPendingReads ?? 4096,
      commitAnyTerm: opts.unsafeTesting?.commitAnyTerm ?? false,
    };
    this.log = new RaftLog(opts.storage);
    this.#term = opts.storage.hardState.term;
    this.#vote = opts.storage.hardState.vote;
    this.#prevHs = this.#hardState();
    this.#prevSoft = { lead: NONE, role: "follower" };
    this.refreshConf();
    this.#resetTimeout();
  }

  /** Current term. */
  get term(): number {
    return this.#term;
  }

  /** Role. */
  get role(): Role {
    return this.#role;
  }

  /** Known leader or {@link NONE}. */
  get lead(): string {
    return this.#lead;
  }

  /** The configuration in force (the latest appended). */
  get conf(): ConfState {
    return this.#conf;
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.log.committed };
  }

  #resetTimeout(): void {
    const n = this.#electionTick;
    this.#randomizedTimeout = n + Math.floor(this.#random() * n);
  }

  #send(m: RaftMessage): void {
    this.#msgs.push(m);
  }

  /** True if this node may campaign (it is a voter). */
  promotable(): boolean {
    return this.#conf.voters.includes(this.id);
  }

  /** Re-reads the configuration from the log (after appends, truncations, snapshots). */
  refreshConf(): void {
    const ci = this.log.lastConfIndex();
    const key = `${ci}:${this.log.term(ci)}:${this.log.snapshotIndex}`;
    if (key === this.#confKey) return;
    this.#confKey = key;
    this.#conf = this.log.confAt(this.log.lastIndex());
    this.#leader?.onConfChange(this.#conf);
  }

  // ---- role transitions ----

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = NONE;
    }
    this.#lead = NONE;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetTimeout();
    this.#votes.clear();
    this.#leader = undefined;
  }

  #becomeFollower(term: number, lead: string): void {
    this.#reset(term);
    this.#role = "follower";
    this.#lead = lead;
  }

  #becomeLeader(): void {
    this.#reset(this.#term);
    this.#role = "leader";
    this.#lead = this.id;
    const currentConf = () => this.#conf;
    const host = {
      id: this.id,
      term: this.#term,
      log: this.log,
      get conf(): ConfState {
        return currentConf();
      },
      send: (m: RaftMessage) => this.#send(m),
      pushReadState: (rs: ReadState) => this.#readStates.push(rs),
      refreshConf: () => this.refreshConf(),
      resetElectionElapsed: () => {
        this.#electionElapsed = 0;
      },
    };
    this.#leader = new Leader(host, this.#leaderCfg);
    this.#leader.appendEntry("normal", new Uint8Array(0));
  }

  #campaign(pre: boolean, transfer: boolean): void {
    let voteTerm: number;
    if (pre) {
      this.#role = "precandidate";
      this.#votes.clear();
      this.#lead = NONE;
      voteTerm = this.#term + 1;
    } else {
      this.#reset(this.#term + 1);
      this.#vote = this.id;
      this.#role = "candidate";
      voteTerm = this.#term;
    }
    this.#votes.set(this.id, true);
    if (tallyVotes(this.#conf, this.#votes) === "won") {
      if (pre) this.#campaign(false, false);
      else this.#becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.#conf.voters) {
      if (to === this.id) continue;
      const base = { from: this.id, to, term: voteTerm, lastIndex, lastTerm };
      if (pre) this.#send({ type: "prevote", ...base });
      else {this.#send(
          transfer ? { type: "vote", ...base, transfer: true } : { type: "vote", ...base },
        );}
    }
  }

  #hup(transfer: boolean): void {
    if (this.#role === "leader" || !this.promotable()) return;
    this.#campaign(this.#preVote && !transfer, transfer);
  }

  /** Starts an election now (tests, operators). */
  campaign(): void {
    this.#hup(false);
  }

  // ---- inputs ----

  /** Advances logical time by one tick. */
  tick(): void {
    this.#electionElapsed++;
    const leader = this.#leader;
    if (!leader) {
      if (this.promotable() && this.#electionElapsed >= this.#randomizedTimeout) {
        this.#electionElapsed = 0;
        this.#hup(false);
      }
      return;
    }
    this.#heartbeatElapsed++;
    if (this.#electionElapsed >= this.#electionTick) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum && !leader.checkQuorumAndReset()) {
        this.#becomeFollower(this.#term, NONE);
        return;
      }
      leader.transferee = NONE;
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTick) {
      this.#heartbeatElapsed = 0;
      leader.heartbeat();
    }
  }

  /** Processes one message from a peer. Malformed or stale messages are ignored. */
  step(m: RaftMessage): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.#term) {
      if (m.type === "vote" || m.type === "prevote") {
        const force = m.type === "vote" && m.transfer === true;
        const inLease = this.#checkQuorum && this.#lead !== NONE &&
          this.#electionElapsed < this.#electionTick;
        if (!force && inLease) return;
      }
      if (m.type === "prevote" || (m.type === "prevote_resp" && !m.reject)) {
        // A pre-vote never changes anyone's term.
      } else if (m.type === "append" || m.type === "heartbeat" || m.type === "snapshot") {
        this.#becomeFollower(m.term, m.from);
      } else this.#becomeFollower(m.term, NONE);
    } else if (m.term < this.#term) {
      if ((this.#checkQuorum || this.#preVote) && (m.type === "heartbeat" || m.type === "append")) {
        // Tell a stale leader about the newer term so it steps down.
        this.#send({
          type: "append_resp",
          from: this.id,
          to: m.from,
          term: this.#term,
          index: 0,
          reject: false,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === "prevote") {
        this.#send({
          type: "prevote_resp",
          from: this.id,
          to: m.from,
          term: this.#term,
          reject: true,
        });
      }
      return;
    }
    if (m.type === "vote" || m.type === "prevote") {
      this.#handleVote(m);
      return;
    }
    if (this.#leader) this.#stepLeader(m, this.#leader);
    else if (this.#role === "follower") this.#stepFollower(m);
    else this.#stepCandidate(m);
  }

  #handleVote(m: VoteMsg | PrevoteMsg): void {
    const canVote = this.#vote === m.from || (this.#vote === NONE && this.#lead === NONE) ||
      (m.type === "prevote" && m.term > this.#term);
    const respType = m.type === "vote" ? "vote_resp" : "prevote_resp";
    const upToDate = this.#voteIgnoresLog || this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (canVote && upToDate) {
      this.#send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === "vote") {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.#send({ type: respType, from: this.id, to: m.from, term: this.#term, reject: true });
    }
  }

  #stepLeader(m: RaftMessage, leader: Leader): void {
    switch (m.type) {
      case "append_resp":
        leader.onAppendResp(m);
        break;
      case "heartbeat_resp":
        leader.onHeartbeatResp(m);
        break;
      case "read_index": {
        const r = leader.readIndex(m.from, m.ctx);
        if (!r.ok) this.#rejectRead(m.from, m.ctx);
        break;
      }
      default:
        break;
    }
  }

  #rejectRead(to: string, ctx: Uint8Array): void {
    const term = this.#term;
    this.#send({ type: "read_index_resp", from: this.id, to, term, index: 0, ctx, reject: true });
  }

  #stepFollower(m: RaftMessage): void {
    const send = (r: RaftMessage) => this.#send(r);
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        this.#electionElapsed = 0;
        this.#lead = m.from;
        if (m.type === "heartbeat") handleHeartbeat(this.log, m, send, this.#term);
        else if (
          m.type === "append"
            ? handleAppend(this.log, m, send, this.#term)
            : handleSnapshot(this.log, m, send, this.#term)
        ) this.refreshConf();
        break;
      case "timeout_now":
        this.#hup(true);
        break;
      case "read_index_resp":
        if (!m.reject) this.#readStates.push({ index: m.index, ctx: m.ctx });
        break;
      case "read_index":
        this.#rejectRead(m.from, m.ctx);
        break;
      default:
        break;
    }
  }

  #stepCandidate(m: RaftMessage): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        this.#becomeFollower(m.term, m.from);
        this.#stepFollower(m);
        break;
      case "vote_resp":
      case "prevote_resp": {
        if ((m.type === "vote_resp") !== (this.#role === "candidate")) break;
        this.#votes.set(m.from, !m.reject);
        const r = tallyVotes(this.#conf, this.#votes);
        if (r === "won") {
          if (this.#role === "precandidate") this.#campaign(false, false);
          else this.#becomeLeader();
        } else if (r === "lost") this.#becomeFollower(this.#term, NONE);
        break;
      }
      default:
        break;
    }
  }

  // ---- requests ----

  #notLeader(): Refusal {
    return {
      ok: false,
      reason: this.#lead === NONE ? "no_leader" : "not_leader",
      leader: this.#lead,
    };
  }

  /** Proposes several entries at once; on a leader they share one replication round. */
  proposeBatch(datas: Uint8Array[]): ProposeResult[] {
    if (!this.#leader) {
      const r = this.#notLeader();
      return datas.map(() => r);
    }
    return this.#leader.proposeBatch(datas);
  }

  /** Proposes application data; on a leader it is appended at once. */
  propose(data: Uint8Array): ProposeResult {
    if (!this.#leader) return this.#notLeader();
    return this.#leader.propose("normal", data);
  }

  /** Proposes one membership change; refused while another one is uncommitted. */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const leader = this.#leader;
    if (!leader) return this.#notLeader();
    if (!leader.canChangeConf()) {
      return { ok: false, reason: "conf_change_pending", leader: this.id };
    }
    if (cc.op === "remove" && cc.node === this.id) {
      return {
        ok: false,
        reason: "invalid_conf_change",
        leader: this.id,
        detail: "the leader cannot remove itself; transfer leadership first",
      };
    }
    let next: ConfState;
    try {
      next = applyConfChange(this.#conf, cc);
    } catch (e) {
      if (!(e instanceof ConfChangeError)) throw e;
      return { ok: false, reason: "invalid_conf_change", leader: this.id, detail: e.message };
    }
    return leader.propose("conf", encodeConfEntry(cc, next));
  }

  /** Asks for a linearizable read; a ReadState with `ctx` appears in a later Ready. */
  readIndex(ctx: Uint8Array): RequestResult {
    if (this.#leader) return this.#leader.readIndex(this.id, ctx);
    if (this.#lead === NONE) return this.#notLeader();
    this.#send({ type: "read_index", from: this.id, to: this.#lead, term: this.#term, ctx });
    return { ok: true };
  }

  /** Hands leadership to `to` once it is caught up (TimeoutNow). */
  transferLeadership(to: string): RequestResult {
    if (!this.#leader) return this.#notLeader();
    return this.#leader.transfer(to);
  }

  /** Compacts the log up to the applied index `index`; `data` is the state machine there. */
  compact(index: number, data: Uint8Array): Snapshot {
    return this.log.compact(index, data);
  }

  // ---- effects ----

  /** True if `ready()` has something to hand out. */
  hasReady(): boolean {
    if (this.#msgs.length > 0 || this.#readStates.length > 0) return true;
    if (this.log.pendingSnapshot || this.log.stable < this.log.lastIndex()) return true;
    if (this.log.hasNextCommitted()) return true;
    const hs = this.#prevHs;
    if (hs.term !== this.#term || hs.vote !== this.#vote || hs.commit !== this.log.committed) {
      return true;
    }
    return this.#prevSoft.lead !== this.#lead || this.#prevSoft.role !== this.#role;
  }

  /** Collects pending effects; call `advance()` once they are handled. */
  ready(): Ready {
    if (this.#readyOut) throw new RaftInvariantError("ready() called again before advance()");
    this.#readyOut = true;
    const rd: Ready = {
      entries: this.log.unstableEntries(),
      committed: this.log.nextCommitted(),
      messages: this.#msgs,
      readStates: this.#readStates,
    };
    this.#msgs = [];
    this.#readStates = [];
    if (this.log.pendingSnapshot) {
      rd.snapshot = this.log.pendingSnapshot;
      this.log.pendingSnapshot = undefined;
    }
    const hs = this.#hardState();
    const p = this.#prevHs;
    if (hs.term !== p.term || hs.vote !== p.vote || hs.commit !== p.commit) {
      rd.hardState = hs;
      this.#prevHs = hs;
    }
    if (this.#prevSoft.lead !== this.#lead || this.#prevSoft.role !== this.#role) {
      this.#prevSoft = { lead: this.#lead, role: this.#role };
      rd.softState = { ...this.#prevSoft };
    }
    return rd;
  }

  /** Acknowledges that `rd` was persisted, sent and applied. */
  advance(rd: Ready): void {
    this.#readyOut = false;
    const log = this.log;
    if (rd.snapshot) log.applied = Math.max(log.applied, rd.snapshot.index);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      log.stableTo(last.index, last.term);
    }
    if (rd.committed.length > 0) {
      log.applied = Math.max(log.applied, rd.committed[rd.committed.length - 1].index);
    }
    this.#leader?.onPersisted(log.stable);
  }

  /** A snapshot of the node's state for status pages and tests. */
  status(): RaftStatus {
    const progress: RaftStatus["progress"] = {};
    if (this.#leader) {
      for (const [id, pr] of this.#leader.progress) progress[id] = pr.status();
    }
    return {
      id: this.id,
      term: this.#term,
      vote: this.#vote,
      role: this.#role,
      lead: this.#lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotIndex,
      conf: this.#conf,
      progress,
    };
  }
}
