/**
 * Wire messages between masters for the replicated metadata store: writes
 * and membership changes forwarded from a follower to the leader, and the
 * leader's status. Replies use the transport's `<type>.reply` convention.
 *
 * @module
 */
import {
  array,
  bool,
  bytes,
  type Infer,
  object,
  oneOf,
  optional,
  record,
  type Schema,
  str,
  uint,
} from "./schema.ts";

/** A KV command (msgpack, as the state machine decodes it) forwarded to the leader. */
export const kvProposeSchema = object({ cmd: bytes(1024 * 1024) });
/** The outcome of a forwarded command. */
export const kvProposeReplySchema = object({
  ok: bool,
  version: uint,
  existed: optional(bool),
  code: optional(str(64)),
});
/** A membership change forwarded to the leader. */
export const raftConfSchema = object({
  op: oneOf(["add_learner", "promote", "remove"]),
  node: str(64),
  addr: optional(str(300)),
});
/** A leadership transfer forwarded to the leader. */
export const raftTransferSchema = object({ to: str(64) });
/** An empty acknowledgement. */
export const emptyReplySchema = object({});
/** Asks the leader for its view of the cluster. */
export const raftStatusSchema = object({});
/** The leader's view: roles, indexes and per-follower progress. */
export const raftStatusReplySchema = object({
  id: str(64),
  term: uint,
  role: str(16),
  lead: str(64),
  commit: uint,
  applied: uint,
  lastIndex: uint,
  snapshotIndex: uint,
  voters: array(str(64), 64),
  learners: array(str(64), 64),
  progress: record(
    object({ match: uint, next: uint, state: str(16), learner: bool }),
    64,
  ),
});

/** Every KV/raft-admin message type with its schema. */
export const kvMessages: Record<string, Schema<unknown>> = {
  "kv.propose": kvProposeSchema,
  "kv.propose.reply": kvProposeReplySchema,
  "raft.conf": raftConfSchema,
  "raft.conf.reply": emptyReplySchema,
  "raft.transfer": raftTransferSchema,
  "raft.transfer.reply": emptyReplySchema,
  "raft.status": raftStatusSchema,
  "raft.status.reply": raftStatusReplySchema,
};

/** A forwarded command's outcome. */
export type KvProposeReply = Infer<typeof kvProposeReplySchema>;
/** A forwarded membership change. */
export type RaftConfRequest = Infer<typeof raftConfSchema>;
/** The leader's status. */
export type RaftStatusReply = Infer<typeof raftStatusReplySchema>;
