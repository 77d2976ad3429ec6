/**
 * Leader-side bookkeeping: per-follower replication progress (probe,
 * pipelined replicate, snapshot), a bounded window of in-flight appends, and
 * the quorum arithmetic for commits and votes.
 *
 * @module
 */
import type { ConfState, PeerStatus } from "./types.ts";

/** A bounded FIFO of the last indexes of appends in flight to one follower. */
export class Inflights {
  #q: number[] = [];
  readonly #max: number;

  /** A window of at most `max` appends. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Records an append whose last entry is `index`. */
  add(index: number): void {
    this.#q.push(index);
  }

  /** Frees every append whose last index is at most `index` (it was acknowledged). */
  freeLE(index: number): void {
    let k = 0;
    while (k < this.#q.length && this.#q[k] <= index) k++;
    if (k > 0) this.#q.splice(0, k);
  }

  /** Frees the oldest append (its answer may be lost; a heartbeat answer proves the peer alive). */
  freeFirst(): void {
    this.#q.shift();
  }

  /** True when no more appends may be sent. */
  full(): boolean {
    return this.#q.length >= this.#max;
  }

  /** Appends in flight. */
  get count(): number {
    return this.#q.length;
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.#q = [];
  }
}

/** Replication mode of a follower. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** How far one follower is, and how the leader sends to it. */
export class Progress {
  /** Highest index known replicated on the follower. */
  match = 0;
  /** Next index to send. */
  next: number;
  /** Replication mode. */
  state: ProgressState = "probe";
  /** In snapshot mode: index of the snapshot sent. */
  pendingSnapshot = 0;
  /** In probe mode: one append is out, wait for its answer or a heartbeat answer. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /** Heartbeat answers received while stuck in snapshot mode (resend after a few). */
  snapshotStall = 0;
  /** Non-voting member. */
  learner: boolean;
  /** Appends in flight while pipelining. */
  readonly inflights: Inflights;

  /** A fresh progress whose next index is `next`. */
  constructor(next: number, learner: boolean, maxInflight: number) {
    this.next = next;
    this.learner = learner;
    this.inflights = new Inflights(maxInflight);
  }

  #reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotStall = 0;
    this.inflights.reset();
  }

  /** Sends one append at a time until the follower's position is known. */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#reset("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset("probe");
      this.next = this.match + 1;
    }
  }

  /** Streams appends optimistically. */
  becomeReplicate(): void {
    this.#reset("replicate");
    this.next = this.match + 1;
  }

  /** Waits for a snapshot at `index` to be installed. */
  becomeSnapshot(index: number): void {
    this.#reset("snapshot");
    this.pendingSnapshot = index;
  }

  /** Records an acknowledgement up to `n`; true if `match` grew. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejection of the append after `rejected`, with the follower's
   * hint `matchHint` (an index that may match). False if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
    } else if (this.next - 1 !== rejected) {
      return false;
    }
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** True if nothing more may be sent now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  /** A plain summary. */
  status(): PeerStatus {
    return { match: this.match, next: this.next, state: this.state, learner: this.learner };
  }
}

/** Number of votes that make a majority of `n` voters. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Highest index replicated on a majority of `voters`, given each one's match. */
export function quorumIndex(voters: readonly string[], match: (id: string) => number): number {
  if (voters.length === 0) return 0;
  const m = voters.map(match).sort((a, b) => b - a);
  return m[quorum(voters.length) - 1];
}

/** Outcome of counting votes. */
export type VoteResult = "won" | "lost" | "pending";

/** Counts `votes` (true = granted) of the voters in `conf`. */
export function tallyVotes(conf: ConfState, votes: Map<string, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of conf.voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorum(conf.voters.length);
  if (granted >= q) return "won";
  if (conf.voters.length - rejected < q) return "lost";
  return "pending";
}
