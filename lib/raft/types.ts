/**
 * Types shared by the Raft core modules: persistent state, the `Ready`
 * batch of effects, options and results.
 *
 * @module
 */
import type { Entry, RaftMessage, Snapshot } from "../../proto/raft.ts";
import { ElasticoreError } from "../errors.ts";

export type { Entry, RaftMessage, Snapshot };

/** Node id meaning "nobody" (no vote, no known leader). */
export const NONE = "";

/** The state that must be on stable storage before any message of the same Ready is sent. */
export interface HardState {
  /** Current term. */
  term: number;
  /** Who this node voted for in `term` ({@link NONE} if nobody). */
  vote: string;
  /** Highest index known committed. */
  commit: number;
}

/** Who votes and who only receives the log. */
export interface ConfState {
  /** Voting members. */
  voters: string[];
  /** Non-voting members (catch up before promotion). */
  learners: string[];
}

/** Roles of a Raft node. */
export type Role = "follower" | "precandidate" | "candidate" | "leader";

/** A linearizable read that may be served once the state machine applied `index`. */
export interface ReadState {
  /** Commit index at the time leadership was confirmed. */
  index: number;
  /** The caller's request context, echoed. */
  ctx: Uint8Array;
}

/** Volatile state, reported when it changes. */
export interface SoftState {
  /** Known leader, or {@link NONE}. */
  lead: string;
  /** This node's role. */
  role: Role;
}

/**
 * A batch of effects. The shell must, in order: persist `snapshot`, `entries`
 * and `hardState` and sync them; then send `messages`; then apply
 * `snapshot` and `committed` to the state machine and serve `readStates`
 * once applied; then call `advance()`.
 */
export interface Ready {
  /** New hard state to persist, if it changed. */
  hardState?: HardState;
  /** Entries to append to stable storage (replacing any stored entries from `entries[0].index` on). */
  entries: Entry[];
  /** A snapshot received from the leader, to persist and load into the state machine. */
  snapshot?: Snapshot;
  /** Committed entries to apply, in order. */
  committed: Entry[];
  /** Messages to send after the persistence above is durable. */
  messages: RaftMessage[];
  /** Reads confirmed as linearizable. */
  readStates: ReadState[];
  /** Role/leader, if changed. */
  softState?: SoftState;
}

/** What a node restarts from: exactly what earlier Readies persisted. */
export interface StorageState {
  /** Last persisted hard state. */
  hardState: HardState;
  /** Last persisted snapshot (index 0 with the initial configuration on a fresh node). */
  snapshot: Snapshot;
  /** Persisted entries after the snapshot, contiguous. */
  entries: Entry[];
}

/** Test-only switches that deliberately break the protocol, to prove checks can fail. */
export interface UnsafeTestingOptions {
  /** Commit entries of earlier terms by counting replicas (violates §5.4.2). */
  commitAnyTerm?: boolean;
  /** Grant votes without the log up-to-date check (violates §5.4.1). */
  voteIgnoresLog?: boolean;
}

/** Options of a Raft core. */
export interface RaftOptions {
  /** This node's id. */
  id: string;
  /** Persisted state to start from. */
  storage: StorageState;
  /** Uniform random numbers in [0, 1), e.g. a seeded Prng's `next`. */
  random: () => number;
  /** Ticks without a leader before campaigning (randomized in [n, 2n)). Default 10. */
  electionTick?: number;
  /** Ticks between leader heartbeats. Default 2. */
  heartbeatTick?: number;
  /** Run a pre-vote round before a real election. Default true. */
  preVote?: boolean;
  /** A leader steps down without recent contact from a quorum. Default true. */
  checkQuorum?: boolean;
  /** Most entries per append message. Default 64. */
  maxEntriesPerMsg?: number;
  /** Most entry bytes per append message (at least one entry is always sent). Default 256 KiB. */
  maxBytesPerMsg?: number;
  /** Most appends in flight to one follower while pipelining. Default 16. */
  maxInflight?: number;
  /** Most uncommitted entries a leader accepts before refusing proposals. Default 4096. */
  maxUncommittedEntries?: number;
  /** Most queued reads waiting for leadership confirmation. Default 4096. */
  maxPendingReads?: number;
  /** Deliberately unsafe switches for tests only. */
  unsafeTesting?: UnsafeTestingOptions;
}

/** Why a request was refused. */
export type RefusalReason =
  | "not_leader"
  | "transferring"
  | "overloaded"
  | "no_leader"
  | "conf_change_pending"
  | "invalid_conf_change"
  | "invalid_target";

/** A refused request: why, and the leader to retry at if known. */
export interface Refusal {
  /** Always false. */
  ok: false;
  /** Why it was refused. */
  reason: RefusalReason;
  /** Known leader ({@link NONE} if unknown). */
  leader: string;
  /** Extra explanation. */
  detail?: string;
}

/** Outcome of a proposal: where it was appended, or why not. */
export type ProposeResult = { ok: true; index: number; term: number } | Refusal;

/** Outcome of a read or transfer request. */
export type RequestResult = { ok: true } | Refusal;

/** Replication state of one peer, as seen by the leader. */
export interface PeerStatus {
  /** Highest index known replicated. */
  match: number;
  /** Next index to send. */
  next: number;
  /** Replication mode. */
  state: "probe" | "replicate" | "snapshot";
  /** True for a learner. */
  learner: boolean;
}

/** A summary of a node's state for status pages and tests. */
export interface RaftStatus {
  /** Node id. */
  id: string;
  /** Current term. */
  term: number;
  /** Vote in the current term. */
  vote: string;
  /** Role. */
  role: Role;
  /** Known leader. */
  lead: string;
  /** Commit index. */
  commit: number;
  /** Applied index (as acknowledged with `advance`). */
  applied: number;
  /** Last log index. */
  lastIndex: number;
  /** Index of the latest snapshot. */
  snapshotIndex: number;
  /** Configuration in force (the latest appended). */
  conf: ConfState;
  /** Per-peer replication state (leader only). */
  progress: Record<string, PeerStatus>;
}

/** A broken invariant inside the core (a bug or corrupted storage), never bad network input. */
export class RaftInvariantError extends ElasticoreError {
  /** Creates the error. */
  constructor(message: string) {
    super("raft_invariant", message, { status: 500 });
  }
}

/** Approximate wire size of an entry, for batching. */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 24;
}
