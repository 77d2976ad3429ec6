/**
 * Shared types of the SWIM core: member records, the injected randomness and
 * the effects the core asks its shell to perform.
 *
 * @module
 */
import type { MemberMeta, Ping, PushPull, SwimDatagram } from "../../proto/swim.ts";

/** Liveness of a member as one node sees it. */
export type MemberStatus = "alive" | "suspect" | "dead" | "left";

/** One member as the local node sees it. */
export interface Member {
  /** Node id. */
  readonly id: string;
  /** Gossip address (`host:port`). */
  addr: string;
  /** Highest incarnation seen; only the member itself raises it. */
  inc: number;
  /** Current liveness. */
  status: MemberStatus;
  /** Gossiped metadata. */
  meta: MemberMeta;
  /** Local time of the last status change, in ms. */
  changedAt: number;
}

/** The randomness a core needs; `lib/sim`'s `Prng` satisfies it. */
export interface RandomSource {
  /** An integer in [0, n). */
  int(n: number): number;
}

/** Kinds of membership events. */
export type SwimEventKind = "join" | "suspect" | "alive" | "dead" | "left" | "updated";

/** A membership change seen by the local node. */
export interface SwimEvent {
  /** What happened: a new or returning member, a suspicion, a refutation, a death, a leave, new metadata. */
  kind: SwimEventKind;
  /** The member concerned. */
  id: string;
  /** Its incarnation after the change. */
  inc: number;
  /** Its address. */
  addr: string;
  /** Its metadata. */
  meta: MemberMeta;
  /** Local time of the change, in ms. */
  at: number;
}

/** Send one datagram to `addr` (member `to`, when known). */
export interface SendEffect {
  /** Effect tag. */
  type: "send";
  /** Destination gossip address. */
  addr: string;
  /** Destination node id, when known (unknown for seeds). */
  to?: string;
  /** The message. */
  msg: SwimDatagram;
}

/**
 * Open a stream to `addr`, send `state`, read the peer's state back and hand
 * it to `SwimCore.mergeRemoteState` (or report nothing on failure: the core
 * retries by itself).
 */
export interface PushPullEffect {
  /** Effect tag. */
  type: "push_pull";
  /** Peer gossip address (the shell maps it to the stream address). */
  addr: string;
  /** Peer id when known. */
  to?: string;
  /** Our full state. */
  state: PushPull;
}

/**
 * Ping member `to` over the stream transport (fallback when the datagram
 * ping went unanswered); on an answer call `SwimCore.streamAck(seq, now)`.
 * The peer's shell answers with `SwimCore.answerStreamPing`.
 */
export interface StreamPingEffect {
  /** Effect tag. */
  type: "stream_ping";
  /** Peer gossip address. */
  addr: string;
  /** Peer id. */
  to: string;
  /** The ping to deliver. */
  ping: Ping;
}

/** Call `SwimCore.tick(now)` at (or after) local time `at`; replaces any earlier request. */
export interface WakeEffect {
  /** Effect tag. */
  type: "wake";
  /** Local time in ms. */
  at: number;
}

/** A membership event for the rest of the node (DFS ring, scheduler, status). */
export interface EventEffect {
  /** Effect tag. */
  type: "event";
  /** The event. */
  event: SwimEvent;
}

/** Joining through the seeds failed after the configured attempts. */
export interface JoinFailedEffect {
  /** Effect tag. */
  type: "join_failed";
  /** Attempts made. */
  attempts: number;
}

/** Everything the core can ask of its shell. */
export type SwimEffect =
  | SendEffect
  | PushPullEffect
  | StreamPingEffect
  | WakeEffect
  | EventEffect
  | JoinFailedEffect;
