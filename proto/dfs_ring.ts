/**
 * Wire messages of the Chord ring maintenance protocol (`lib/dfs/ring`).
 *
 * Nodes are named by their node id; each receiver derives ring identifiers by
 * hashing, so a peer cannot claim a position it does not own. Lookup keys are
 * 64-bit ring identifiers carried as 16 lowercase hex digits (msgpack has no
 * portable 64-bit unsigned type in our codec settings).
 *
 * @module
 */
import {
  array,
  bool,
  type Infer,
  nullable,
  object,
  optional,
  type Schema,
  SchemaError,
  str,
  uint,
} from "./schema.ts";

/** Longest node id accepted on the wire. */
export const MAX_NODE_ID = 256;

/** Longest successor list accepted on the wire. */
export const MAX_SUCCESSORS = 64;

const HEX16 = /^[0-9a-f]{16}$/;

/** A ring identifier: exactly 16 lowercase hex digits. */
export const ringKeyHex: Schema<string> = {
  describe: "hex64",
  parse(v, path = "") {
    if (typeof v !== "string" || !HEX16.test(v)) {
      throw new SchemaError(path, "expected a ring id of 16 lowercase hex digits");
    }
    return v;
  },
};

const nodeId = str(MAX_NODE_ID);

/**
 * Stabilize query (and, with `notify`, Zave's notify): "send me your
 * predecessor and successor list; I believe I may be your predecessor".
 */
export const RingStateReq = object({
  /** Correlates the reply. */
  req: uint,
  /** True when the sender offers itself as the receiver's predecessor (rectify). */
  notify: bool,
});
/** Body of `ring.state_req`. */
export type RingStateReq = Infer<typeof RingStateReq>;

/** Reply to {@link RingStateReq}: the receiver's predecessor and successor list. */
export const RingStateResp = object({
  /** The request this answers. */
  req: uint,
  /** Current predecessor, or null if unknown. */
  pred: nullable(nodeId),
  /** Current successor list, nearest first. */
  succs: array(nodeId, MAX_SUCCESSORS),
});
/** Body of `ring.state_resp`. */
export type RingStateResp = Infer<typeof RingStateResp>;

/** Most node ids a find request asks the receiver to route around. */
export const MAX_LOOKUP_AVOID = 64;

/** One step of an iterative lookup: "where is the successor of `key`?". */
export const RingFindReq = object({
  /** Correlates the reply. */
  req: uint,
  /** The key being looked up. */
  key: ringKeyHex,
  /**
   * Nodes the asker found unreachable during this lookup (absent when none): the receiver
   * names no next hop among them, so a lookup routes around a dead closest-preceding node
   * instead of being sent back to it by every node that still points at it.
   */
  avoid: optional(array(nodeId, MAX_LOOKUP_AVOID)),
});
/** Body of `ring.find_req`. */
export type RingFindReq = Infer<typeof RingFindReq>;

/**
 * Reply to {@link RingFindReq}: either the answer (`done`, with the owner's
 * replica candidates in `succs`, owner first) or the next node to ask.
 */
export const RingFindResp = object({
  /** The request this answers. */
  req: uint,
  /** True if `succs[0]` is the successor of the key. */
  done: bool,
  /** When not done: the closest preceding node the receiver knows. */
  next: nullable(nodeId),
  /** When done: the key's successor followed by its successors. */
  succs: array(nodeId, MAX_SUCCESSORS + 1),
});
/** Body of `ring.find_resp`. */
export type RingFindResp = Infer<typeof RingFindResp>;

/** Liveness probe used by check-predecessor and rectify. */
export const RingPing = object({
  /** Correlates the reply. */
  req: uint,
});
/** Body of `ring.ping`. */
export type RingPing = Infer<typeof RingPing>;

/** Reply to {@link RingPing}. */
export const RingPong = object({
  /** The request this answers. */
  req: uint,
});
/** Body of `ring.pong`. */
export type RingPong = Infer<typeof RingPong>;

/** Every ring message type and its schema, for a `MessageRegistry`. */
export const ringMessages: Record<string, Schema<unknown>> = {
  "ring.state_req": RingStateReq,
  "ring.state_resp": RingStateResp,
  "ring.find_req": RingFindReq,
  "ring.find_resp": RingFindResp,
  "ring.ping": RingPing,
  "ring.pong": RingPong,
};

/** A ring message with its type tag, as the core consumes and produces it. */
export type RingMessage =
  | { type: "ring.state_req"; body: RingStateReq }
  | { type: "ring.state_resp"; body: RingStateResp }
  | { type: "ring.find_req"; body: RingFindReq }
  | { type: "ring.find_resp"; body: RingFindResp }
  | { type: "ring.ping"; body: RingPing }
  | { type: "ring.pong"; body: RingPong };
