/**
 * Raft wire messages, version 1: one schema per message type the Raft core
 * (`lib/raft`) sends. The transport registers {@link raftMessages} in a
 * `MessageRegistry` and carries exactly these bodies; the envelope type of a
 * message is `raft.<type>` (see {@link raftWireType}).
 *
 * @module
 */
import {
  array,
  bool,
  bytes,
  type Infer,
  literal,
  object,
  oneOf,
  optional,
  type Schema,
  str,
  uint,
} from "./schema.ts";

/** Largest node id accepted on the wire. */
export const MAX_NODE_ID = 64;
/** Largest entry payload (1 MiB). */
export const MAX_ENTRY_BYTES = 1024 * 1024;
/** Most entries one append message may carry. */
export const MAX_ENTRIES_PER_APPEND = 4096;
/** Largest snapshot payload carried in one message (15 MiB: it must fit a 16 MiB frame). */
export const MAX_SNAPSHOT_BYTES = 15 * 1024 * 1024;
/** Largest read-index context. */
export const MAX_READ_CTX_BYTES = 256;
/** Most members (voters plus learners) of a configuration. */
export const MAX_MEMBERS = 64;

const nodeId = str(MAX_NODE_ID);

/** One log entry: `normal` carries application data, `conf` a membership change. */
export const entrySchema = object({
  term: uint,
  index: uint,
  kind: oneOf(["normal", "conf"]),
  data: bytes(MAX_ENTRY_BYTES),
});
/** One log entry. */
export type Entry = Infer<typeof entrySchema>;

/** A snapshot: the state machine at `index` plus the configuration in force there. */
export const snapshotSchema = object({
  index: uint,
  term: uint,
  voters: array(nodeId, MAX_MEMBERS),
  learners: array(nodeId, MAX_MEMBERS),
  data: bytes(MAX_SNAPSHOT_BYTES),
});
/** A snapshot of the replicated state. */
export type Snapshot = Infer<typeof snapshotSchema>;

/** A vote request (`transfer` is set by a leadership transfer and bypasses leases). */
export const voteSchema = object({
  type: literal("vote"),
  from: nodeId,
  to: nodeId,
  term: uint,
  lastIndex: uint,
  lastTerm: uint,
  transfer: optional(bool),
});

/** A pre-vote request: "would you vote for me at `term`?" (no one's term changes). */
export const prevoteSchema = object({
  type: literal("prevote"),
  from: nodeId,
  to: nodeId,
  term: uint,
  lastIndex: uint,
  lastTerm: uint,
});

/** The answer to a vote request. */
export const voteRespSchema = object({
  type: literal("vote_resp"),
  from: nodeId,
  to: nodeId,
  term: uint,
  reject: bool,
});

/** The answer to a pre-vote request. */
export const prevoteRespSchema = object({
  type: literal("prevote_resp"),
  from: nodeId,
  to: nodeId,
  term: uint,
  reject: bool,
});

/** AppendEntries: entries after (`prevIndex`, `prevTerm`) and the leader's commit index. */
export const appendSchema = object({
  type: literal("append"),
  from: nodeId,
  to: nodeId,
  term: uint,
  prevIndex: uint,
  prevTerm: uint,
  entries: array(entrySchema, MAX_ENTRIES_PER_APPEND),
  commit: uint,
});

/**
 * The answer to an append or snapshot. On success `index` is the follower's
 * last matching index. On reject `index` is the rejected `prevIndex` and
 * (`hintIndex`, `hintTerm`) the follower's fast back-off hint: its largest
 * index whose term is at most the rejected `prevTerm`.
 */
export const appendRespSchema = object({
  type: literal("append_resp"),
  from: nodeId,
  to: nodeId,
  term: uint,
  index: uint,
  reject: bool,
  hintIndex: uint,
  hintTerm: uint,
});

/** A leader heartbeat; `ctx` is set when it confirms leadership for a read. */
export const heartbeatSchema = object({
  type: literal("heartbeat"),
  from: nodeId,
  to: nodeId,
  term: uint,
  commit: uint,
  ctx: optional(bytes(MAX_READ_CTX_BYTES)),
});

/** The answer to a heartbeat, echoing its `ctx`. */
export const heartbeatRespSchema = object({
  type: literal("heartbeat_resp"),
  from: nodeId,
  to: nodeId,
  term: uint,
  ctx: optional(bytes(MAX_READ_CTX_BYTES)),
});

/** InstallSnapshot: the whole snapshot in one message. */
export const snapshotMsgSchema = object({
  type: literal("snapshot"),
  from: nodeId,
  to: nodeId,
  term: uint,
  snapshot: snapshotSchema,
});

/** Leadership transfer: the target starts an election at once. */
export const timeoutNowSchema = object({
  type: literal("timeout_now"),
  from: nodeId,
  to: nodeId,
  term: uint,
});

/** A follower forwards a linearizable read to the leader. */
export const readIndexSchema = object({
  type: literal("read_index"),
  from: nodeId,
  to: nodeId,
  term: uint,
  ctx: bytes(MAX_READ_CTX_BYTES),
});

/** The leader's answer to a forwarded read: serve it once applied reaches `index`. */
export const readIndexRespSchema = object({
  type: literal("read_index_resp"),
  from: nodeId,
  to: nodeId,
  term: uint,
  index: uint,
  ctx: bytes(MAX_READ_CTX_BYTES),
  reject: bool,
});

/** Every Raft message type with its schema, keyed by wire type; register in a `MessageRegistry`. */
export const raftMessages: Record<string, Schema<unknown>> = {
  "raft.vote": voteSchema,
  "raft.vote_resp": voteRespSchema,
  "raft.prevote": prevoteSchema,
  "raft.prevote_resp": prevoteRespSchema,
  "raft.append": appendSchema,
  "raft.append_resp": appendRespSchema,
  "raft.heartbeat": heartbeatSchema,
  "raft.heartbeat_resp": heartbeatRespSchema,
  "raft.snapshot": snapshotMsgSchema,
  "raft.timeout_now": timeoutNowSchema,
  "raft.read_index": readIndexSchema,
  "raft.read_index_resp": readIndexRespSchema,
};

/** A vote request. */
export type VoteMsg = Infer<typeof voteSchema>;
/** A pre-vote request. */
export type PrevoteMsg = Infer<typeof prevoteSchema>;
/** A vote answer. */
export type VoteRespMsg = Infer<typeof voteRespSchema>;
/** A pre-vote answer. */
export type PrevoteRespMsg = Infer<typeof prevoteRespSchema>;
/** An append. */
export type AppendMsg = Infer<typeof appendSchema>;
/** An append (or snapshot) answer. */
export type AppendRespMsg = Infer<typeof appendRespSchema>;
/** A heartbeat. */
export type HeartbeatMsg = Infer<typeof heartbeatSchema>;
/** A heartbeat answer. */
export type HeartbeatRespMsg = Infer<typeof heartbeatRespSchema>;
/** An InstallSnapshot message. */
export type SnapshotMsg = Infer<typeof snapshotMsgSchema>;
/** A leadership-transfer trigger. */
export type TimeoutNowMsg = Infer<typeof timeoutNowSchema>;
/** A forwarded read. */
export type ReadIndexMsg = Infer<typeof readIndexSchema>;
/** The answer to a forwarded read. */
export type ReadIndexRespMsg = Infer<typeof readIndexRespSchema>;

/** Any Raft message, discriminated by `type`. */
export type RaftMessage =
  | VoteMsg
  | PrevoteMsg
  | VoteRespMsg
  | PrevoteRespMsg
  | AppendMsg
  | AppendRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapshotMsg
  | TimeoutNowMsg
  | ReadIndexMsg
  | ReadIndexRespMsg;

/** The envelope type string of `msg`, e.g. `raft.append`. */
export function raftWireType(msg: RaftMessage): string {
  return `raft.${msg.type}`;
}
