/**
 * The Chord ring of the DFS: identifier space and placement keys, the
 * sans-I/O ring maintenance core (Zave's corrected Chord), Zave's invariants
 * and the deterministic ring simulation.
 *
 * @module
 */
export {
  blockKey,
  distance,
  fingerStart,
  hashToRingId,
  inClosed,
  inClosedOpen,
  inOpen,
  inOpenClosed,
  metadataKey,
  RING_BITS,
  RING_SIZE,
  type RingId,
  ringIdFromHex,
  ringIdOf,
  ringIdToHex,
} from "./id.ts";
export { type Peer, peerOf } from "./fingers.ts";
export { RingNode } from "./node.ts";
export {
  DEFAULT_RING_TIMERS,
  type LookupResult,
  type RingConfig,
  type RingEffect,
  type RingSnapshot,
  type RingStatus,
  type RingTimers,
} from "./types.ts";
export {
  checkRing,
  type MemberView,
  type RingCheck,
  sortByRingId,
  trueSuccessor,
  trueSuccessors,
} from "./invariants.ts";
export { type RingSimOptions, runRingSimulation } from "./simulation.ts";
