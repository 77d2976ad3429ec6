/**
 * Everything only a leader does: track follower progress, replicate with
 * batching and pipelining, send snapshots to followers that fell behind the
 * compacted log, advance the commit index (only by counting replicas of an
 * entry of its own term, §5.4.2), confirm reads (ReadIndex) and hand
 * leadership over (TimeoutNow).
 *
 * @module
 */
import type { AppendRespMsg, HeartbeatRespMsg } from "../../proto/raft.ts";
import type { RaftLog } from "./log.ts";
import { Progress, quorum, quorumIndex } from "./progress.ts";
import { type PendingRead, ReadOnlyQueue } from "./read_only.ts";
import {
  type ConfState,
  type Entry,
  NONE,
  type ProposeResult,
  type RaftMessage,
  type ReadState,
  type Refusal,
  type RefusalReason,
  type RequestResult,
} from "./types.ts";

/** Resolved numeric options the leader needs. */
export interface LeaderConfig {
  /** Most entries per append. */
  maxEntriesPerMsg: number;
  /** Most entry bytes per append. */
  maxBytesPerMsg: number;
  /** Most appends in flight per follower. */
  maxInflight: number;
  /** Most uncommitted entries before refusing proposals. */
  maxUncommittedEntries: number;
  /** Most reads waiting for the first commit of the term. */
  maxPendingReads: number;
  /** Deliberately unsafe: commit entries of older terms by counting replicas. */
  commitAnyTerm: boolean;
}

/** What the leader needs from the node hosting it. */
export interface LeaderHost {
  /** This node's id. */
  readonly id: string;
  /** The leader's term. */
  readonly term: number;
  /** The log. */
  readonly log: RaftLog;
  /** The configuration in force. */
  readonly conf: ConfState;
  /** Queues a message for the next Ready. */
  send(m: RaftMessage): void;
  /** Queues a confirmed read for the next Ready. */
  pushReadState(rs: ReadState): void;
  /** Re-reads the configuration from the log after an append. */
  refreshConf(): void;
  /** Restarts the election timer (used to time out a transfer). */
  resetElectionElapsed(): void;
}

/** The leader role's state, alive from election to step-down. */
export class Leader {
  /** Replication progress per member (the leader included). */
  readonly progress = new Map<string, Progress>();
  /** Target of a leadership transfer in progress, or {@link NONE}. */
  transferee = NONE;
  /** Index of the latest configuration entry this leader appended. */
  pendingConfIndex: number;
  readonly #h: LeaderHost;
  readonly #cfg: LeaderConfig;
  readonly #readOnly = new ReadOnlyQueue();
  #waitingReads: PendingRead[] = [];

  /** Sets up progress for every member; the caller appends the term's first entry. */
  constructor(host: LeaderHost, cfg: LeaderConfig) {
    this.#h = host;
    this.#cfg = cfg;
    const last = host.log.lastIndex();
    for (const id of [...host.conf.voters, ...host.conf.learners]) {
      const pr = new Progress(last + 1, host.conf.learners.includes(id), cfg.maxInflight);
      if (id === host.id) pr.match = host.log.stable;
      this.progress.set(id, pr);
    }
    this.pendingConfIndex = last;
  }

  #refuse(reason: RefusalReason, detail?: string): Refusal {
    return detail === undefined
      ? { ok: false, reason, leader: this.#h.id }
      : { ok: false, reason, leader: this.#h.id, detail };
  }

  /** Appends a new entry of this term, unless transferring or overloaded. */
  propose(kind: Entry["kind"], data: Uint8Array): ProposeResult {
    if (this.transferee !== NONE) return this.#refuse("transferring");
    const log = this.#h.log;
    if (log.lastIndex() - log.committed >= this.#cfg.maxUncommittedEntries) {
      return this.#refuse("overloaded", "too many uncommitted entries");
    }
    const index = this.appendEntry(kind, data);
    return { ok: true, index, term: this.#h.term };
  }

  /**
   * Appends several normal entries and replicates them in one round (one
   * append per follower instead of one per entry). Stops at the first refusal.
   */
  proposeBatch(datas: Uint8Array[]): ProposeResult[] {
    const out: ProposeResult[] = [];
    const log = this.#h.log;
    const fresh: Entry[] = [];
    for (const data of datas) {
      if (this.transferee !== NONE) out.push(this.#refuse("transferring"));
      else if (log.lastIndex() - log.committed >= this.#cfg.maxUncommittedEntries) {
        out.push(this.#refuse("overloaded", "too many uncommitted entries"));
      } else {
        const index = log.lastIndex() + 1;
        const e: Entry = { term: this.#h.term, index, kind: "normal", data };
        log.append([e]);
        fresh.push(e);
        out.push({ ok: true, index, term: this.#h.term });
      }
    }
    if (fresh.length) this.bcastAppend();
    return out;
  }

  /** Appends an entry to the local log and replicates it; returns its index. */
  appendEntry(kind: Entry["kind"], data: Uint8Array): number {
    const log = this.#h.log;
    const index = log.lastIndex() + 1;
    log.append([{ term: this.#h.term, index, kind, data }]);
    if (kind === "conf") {
      this.pendingConfIndex = index;
      this.#h.refreshConf();
    }
    this.bcastAppend();
    return index;
  }

  /** True once an entry of this term is committed (reads and conf changes wait for it). */
  committedInTerm(): boolean {
    return this.#h.log.term(this.#h.log.committed) === this.#h.term;
  }

  /** True if a new membership change may start now (the previous one is committed). */
  canChangeConf(): boolean {
    return this.pendingConfIndex <= this.#h.log.committed && this.committedInTerm();
  }

  /** Local entries up to `stable` are persisted: count the leader's own replica. */
  onPersisted(stable: number): void {
    const me = this.progress.get(this.#h.id);
    if (me && me.maybeUpdate(stable) && this.maybeCommit()) this.bcastAppend();
  }

  /** The configuration changed: add, update or drop progress entries. */
  onConfChange(conf: ConfState): void {
    const members = new Set([...conf.voters, ...conf.learners]);
    for (const id of members) {
      const learner = conf.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr) pr.learner = learner;
      else {
        const np = new Progress(this.#h.log.lastIndex(), learner, this.#cfg.maxInflight);
        this.progress.set(id, np);
      }
    }
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id);
    }
    if (this.transferee !== NONE && !conf.voters.includes(this.transferee)) {
      this.transferee = NONE;
    }
    if (this.maybeCommit()) this.bcastAppend();
  }

  /** Advances the commit index to what a quorum of voters holds, if of this term. */
  maybeCommit(): boolean {
    const log = this.#h.log;
    const mci = quorumIndex(this.#h.conf.voters, (id) => this.progress.get(id)?.match ?? 0);
    if (mci <= log.committed) return false;
    if (!this.#cfg.commitAnyTerm && log.term(mci) !== this.#h.term) return false;
    log.commitTo(mci);
    if (this.#waitingReads.length > 0 && this.committedInTerm()) {
      const reads = this.#waitingReads;
      this.#waitingReads = [];
      for (const r of reads) this.#processRead({ ...r, index: log.committed });
    }
    return true;
  }

  /** Sends an append (or empty append carrying the commit index) to every follower. */
  bcastAppend(): void {
    for (const id of this.progress.keys()) {
      if (id !== this.#h.id) this.sendAppend(id, true);
    }
  }

  /** Sends a heartbeat to every follower, with `ctx` when confirming reads. */
  bcastHeartbeat(ctx?: Uint8Array): void {
    const h = this.#h;
    for (const [id, pr] of this.progress) {
      if (id === h.id) continue;
      const commit = Math.min(pr.match, h.log.committed);
      if (ctx) h.send({ type: "heartbeat", from: h.id, to: id, term: h.term, commit, ctx });
      else h.send({ type: "heartbeat", from: h.id, to: id, term: h.term, commit });
    }
  }

  /** Heartbeat with the latest pending read's context, if any. */
  heartbeat(): void {
    this.bcastHeartbeat(this.#readOnly.lastCtx());
  }

  /** True if a quorum of voters was heard from recently; clears the marks for the next round. */
  checkQuorumAndReset(): boolean {
    let active = 0;
    for (const id of this.#h.conf.voters) {
      const pr = this.progress.get(id);
      if (id === this.#h.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.#h.id) pr.recentActive = false;
    return active >= quorum(this.#h.conf.voters.length);
  }

  /**
   * Sends `to` what it needs next: entries after its `next` index, a
   * snapshot if those were compacted away, or (with `sendIfEmpty`) an empty
   * append carrying the commit index. Returns true if a message went out.
   */
  sendAppend(to: string, sendIfEmpty: boolean): boolean {
    const h = this.#h;
    const log = h.log;
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined) return this.#sendSnapshot(to, pr);
    const entries = pr.next <= log.lastIndex()
      ? log.slice(pr.next, this.#cfg.maxEntriesPerMsg, this.#cfg.maxBytesPerMsg)
      : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    h.send({
      type: "append",
      from: h.id,
      to,
      term: h.term,
      prevIndex,
      prevTerm,
      entries,
      commit: log.committed,
    });
    if (entries.length > 0) {
      const last = entries[entries.length - 1].index;
      if (pr.state === "replicate") {
        pr.next = last + 1;
        pr.inflights.add(last);
      } else pr.probeSent = true;
    } else if (pr.state === "probe") pr.probeSent = true;
    return true;
  }

  #sendSnapshot(to: string, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const h = this.#h;
    const snapshot = h.log.snapshot;
    h.send({ type: "snapshot", from: h.id, to, term: h.term, snapshot });
    pr.becomeSnapshot(snapshot.index);
    return true;
  }

  /** Handles a follower's answer to an append or snapshot. */
  onAppendResp(m: AppendRespMsg): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    const log = this.#h.log;
    if (m.reject) {
      let hint = m.hintIndex;
      if (m.hintTerm > 0) hint = log.findConflictByTerm(m.hintIndex, m.hintTerm)[0];
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    const updated = pr.maybeUpdate(m.index);
    if (!updated && !(pr.state === "probe" && pr.match === m.index)) return;
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match + 1 >= log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from, false);
    while (this.sendAppend(m.from, false)) { /* keep the pipeline full */ }
    if (m.from === this.transferee && pr.match === log.lastIndex()) this.#sendTimeoutNow(m.from);
  }

  /** Handles a heartbeat answer: liveness, probing, and read confirmations. */
  onHeartbeatResp(m: HeartbeatRespMsg): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === "snapshot" && ++pr.snapshotStall >= 3) pr.becomeProbe();
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.#h.log.lastIndex()) this.sendAppend(m.from, true);
    if (!m.ctx || pr.learner) return;
    this.#readOnly.recvAck(m.from, m.ctx);
    const voters = this.#h.conf.voters;
    if (this.#readOnly.ackedVoters(m.ctx, voters) < quorum(voters.length)) return;
    for (const r of this.#readOnly.advance(m.ctx)) this.#respondRead(r);
  }

  /** A linearizable read from `from` (this node or a follower). */
  readIndex(from: string, ctx: Uint8Array): RequestResult {
    const read: PendingRead = { index: this.#h.log.committed, ctx, from, acks: new Set() };
    if (!this.committedInTerm()) {
      if (this.#waitingReads.length >= this.#cfg.maxPendingReads) {
        return this.#refuse("overloaded", "too many reads waiting for the first commit");
      }
      this.#waitingReads.push(read);
      return { ok: true };
    }
    if (this.#readOnly.size >= this.#cfg.maxPendingReads) {
      return this.#refuse("overloaded", "too many reads waiting for confirmation");
    }
    this.#processRead(read);
    return { ok: true };
  }

  #processRead(read: PendingRead): void {
    const voters = this.#h.conf.voters;
    if (voters.length === 1 && voters[0] === this.#h.id) {
      this.#respondRead(read);
      return;
    }
    read.acks = new Set([this.#h.id]);
    if (this.#readOnly.add(read)) this.bcastHeartbeat(read.ctx);
  }

  #respondRead(r: PendingRead): void {
    const h = this.#h;
    if (r.from === h.id) h.pushReadState({ index: r.index, ctx: r.ctx });
    else {
      h.send({
        type: "read_index_resp",
        from: h.id,
        to: r.from,
        term: h.term,
        index: r.index,
        ctx: r.ctx,
        reject: false,
      });
    }
  }

  /** Starts handing leadership to `to`; proposals are refused until it ends. */
  transfer(to: string): RequestResult {
    const h = this.#h;
    if (to === h.id) return { ok: true };
    const pr = this.progress.get(to);
    if (!pr || pr.learner) return this.#refuse("invalid_target", `${to} is not a voter`);
    if (this.transferee === to) return { ok: true };
    this.transferee = to;
    h.resetElectionElapsed();
    if (pr.match === h.log.lastIndex()) this.#sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return { ok: true };
  }

  #sendTimeoutNow(to: string): void {
    this.#h.send({ type: "timeout_now", from: this.#h.id, to, term: this.#h.term });
  }
}
