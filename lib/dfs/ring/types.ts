/**
 * Configuration, effects and status types of the ring core (`RingNode`).
 *
 * @module
 */
import type { RingMessage } from "../../../proto/dfs_ring.ts";
import type { LookupResult } from "./lookup.ts";
import type { Peer } from "./fingers.ts";

/** Tunables of a `RingNode`. */
export interface RingConfig {
  /** This node's id. */
  self: string;
  /** Successor-list length r (must be at least the replication factor). Default 4. */
  successors?: number;
  /** Ticks between stabilize rounds. Default 1. */
  stabilizeTicks?: number;
  /** Ticks between fix-fingers rounds. Default 1. */
  fixFingersTicks?: number;
  /** Finger lookups started per fix-fingers round. Default 2. */
  fingersPerRound?: number;
  /** Ticks of silence after which the predecessor is probed. Default 3. */
  checkPredecessorTicks?: number;
  /** Ticks after which an unanswered request counts as failed. Default 2. */
  requestTimeoutTicks?: number;
  /** Unanswered stabilize queries before the successor counts as dead. Default 2. */
  successorAttempts?: number;
  /** Ticks a node stays suspected after a failed request. Default 20. */
  suspectTicks?: number;
  /** Most lookups in flight; more are refused at once (backpressure). Default 1024. */
  maxLookups?: number;
}

export type { LookupResult };

/** What the core asks its shell to do. */
export type RingEffect =
  | {
    /** Send `msg` to node `to`. */
    kind: "send";
    /** Destination node id. */
    to: string;
    /** The message. */
    msg: RingMessage;
  }
  | LookupResult
  | {
    /** The node has joined a ring (or rejoined after losing it). */
    kind: "joined";
    /** Its first successor. */
    successor: string;
  }
  | {
    /** Predecessor or successor list changed (DFS repair runs on this). */
    kind: "neighbors";
    /** Current predecessor. */
    predecessor: string | null;
    /** Current successor list. */
    successors: string[];
  }
  | {
    /** Every successor failed; the node will rejoin through a known contact. */
    kind: "alone";
  };

/** What `RingNode.snapshot` reports. */
export interface RingSnapshot {
  /** Node id. */
  id: string;
  /** Ring identifier, 16 hex digits. */
  ringId: string;
  /** Life stage. */
  status: RingStatus;
  /** Predecessor or null. */
  predecessor: string | null;
  /** Successor list. */
  successors: string[];
  /** Distinct nodes in the finger table. */
  fingers: number;
  /** Requests awaiting a reply. */
  pendingRequests: number;
  /** Lookups in flight. */
  lookups: number;
  /** Nodes currently suspected dead. */
  suspects: string[];
  /** Known nodes to rejoin through. */
  contacts: string[];
  /** True after losing every successor, until rejoined. */
  rejoining: boolean;
  /** True while a stabilize round is in flight. */
  stabilizing: boolean;
}

/** Where a node is in its life. */
export type RingStatus = "idle" | "joining" | "member";

/** The tick-based tunables of a ring node, with defaults applied. */
export type RingTimers = Required<Omit<RingConfig, "self" | "successors">>;

/** Defaults of every {@link RingTimers} tunable (in ticks, except counts). */
export const DEFAULT_RING_TIMERS: Readonly<RingTimers> = {
  stabilizeTicks: 1,
  fixFingersTicks: 1,
  fingersPerRound: 2,
  checkPredecessorTicks: 3,
  requestTimeoutTicks: 2,
  successorAttempts: 2,
  suspectTicks: 20,
  maxLookups: 1024,
};

/** Applies defaults to `cfg`'s tunables; throws `RangeError` on a value below 1. */
export function resolveTimers(cfg: RingConfig): RingTimers {
  const out: RingTimers = { ...DEFAULT_RING_TIMERS };
  for (const k of Object.keys(DEFAULT_RING_TIMERS) as (keyof RingTimers)[]) {
    const v = cfg[k];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`ring setting ${k} must be a positive integer, got ${v}`);
    }
    out[k] = v;
  }
  return out;
}

/** A request of the ring core awaiting its reply. */
export type Pending =
  | { kind: "stab"; to: Peer; due: number }
  | { kind: "update"; to: Peer; due: number }
  | { kind: "ping"; to: Peer; due: number }
  | { kind: "find"; to: Peer; due: number; lookup: number };
