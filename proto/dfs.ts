/**
 * Wire messages of the networked DFS (`lib/dfs/node.ts`): block transfer between replicas
 * (bulk streams), metadata replication (records and ordered ops), listing, anti-entropy
 * digests, and the requests a client-facing node sends to a file's metadata primary.
 *
 * Every request type `T` has a reply type `T.reply`. {@link dfsMessages} also contains the
 * ring maintenance messages (`proto/dfs_ring.ts`), so one registry serves a DFS node.
 *
 * @module
 */
import { FileMetaSchema, MAX_FILE_BLOCKS, MetaOpSchema } from "../lib/dfs/file_meta.ts";
import { RangeDigestSchema } from "../lib/dfs/store/digest.ts";
import { ringKeyHex, ringMessages } from "./dfs_ring.ts";
import {
  array,
  bool,
  bytes,
  type Infer,
  nullable,
  object,
  optional,
  type Schema,
  str,
  uint,
} from "./schema.ts";

/** Longest DFS path on the wire (UTF-16 code units; paths are at most 4096 UTF-8 bytes). */
export const MAX_WIRE_PATH = 4096;
/** Longest block id on the wire. */
export const MAX_WIRE_BLOCK_ID = 160;
/** Most files one listing reply carries. */
export const MAX_LIST = 100_000;

const path = str(MAX_WIRE_PATH);
const blockId = str(MAX_WIRE_BLOCK_ID);

/** Opens a block upload stream: the content follows on the stream. */
export const DfsBlockPut = object({
  /** Block id. */
  id: blockId,
  /** Version the block is stored with. */
  version: uint,
  /** Placement key, 16 hex digits. */
  key: ringKeyHex,
  /** Exact size of the content. */
  size: uint,
  /** Lowercase hex SHA-256 the content must have. */
  sha256: str(64),
});
/** Body of `dfs.block_put`. */
export type DfsBlockPut = Infer<typeof DfsBlockPut>;

/** Reply to {@link DfsBlockPut}: sent once the block is durable. */
export const DfsBlockPutReply = object({ stored: bool });

/** Opens a block download stream: the receiver streams the bytes back. */
export const DfsBlockGet = object({
  /** Block id. */
  id: blockId,
  /** Exact version wanted. */
  version: uint,
  /** First byte. */
  offset: uint,
  /** Bytes wanted (to the end when absent). */
  length: optional(uint),
});
/** Body of `dfs.block_get`. */
export type DfsBlockGet = Infer<typeof DfsBlockGet>;

/** Reply to {@link DfsBlockGet}: the number of bytes sent. */
export const DfsBlockGetReply = object({ size: uint });

/** Deletes blocks from the receiver's store. */
export const DfsBlockDel = object({ ids: array(blockId, 65536) });
/** Body of `dfs.block_del`. */
export type DfsBlockDel = Infer<typeof DfsBlockDel>;

/** Reply to {@link DfsBlockDel}. */
export const DfsBlockDelReply = object({ deleted: uint });

/** Asks for the receiver's local metadata record of `path`. */
export const DfsMetaGet = object({ path });
/** Reply to {@link DfsMetaGet}: the record, or null. */
export const DfsMetaGetReply = object({ record: nullable(FileMetaSchema) });

/** Stores a whole metadata record on a replica (kept only if newer than the stored one). */
export const DfsMetaPut = object({ record: FileMetaSchema });
/** Reply to {@link DfsMetaPut}: false when the replica already had a newer record. */
export const DfsMetaPutReply = object({ stored: bool });

/** One ordered metadata op for a replica to apply in `appendSeq` order. */
export const DfsMetaOp = object({ path, op: MetaOpSchema });
/** Body of `dfs.meta_op`. */
export type DfsMetaOp = Infer<typeof DfsMetaOp>;
/**
 * Reply to {@link DfsMetaOp}: `need` when the replica lacks the base the op applies to (it
 * then needs the whole record); `appendSeq` is the replica's sequence after the delivery.
 */
export const DfsMetaOpReply = object({ applied: bool, need: bool, appendSeq: uint });

/**
 * Records, on a replica that holds exactly the state `(version, appendSeq)` with history head
 * `head`, that its primary confirmed it through the write fence (it raises the record's
 * `confirmed` point, `lib/dfs/meta_order.ts`).
 */
export const DfsMetaMark = object({ path, version: uint, appendSeq: uint, head: str(64) });
/** Body of `dfs.meta_mark`. */
export type DfsMetaMark = Infer<typeof DfsMetaMark>;
/** Reply to {@link DfsMetaMark}: false when the replica holds another state. */
export const DfsMetaMarkReply = object({ marked: bool });

/**
 * Sent by a node leaving for good once every record it held is on a majority of its
 * replacement owners (`lib/dfs/node_handoff.ts`): the receiver drops the sender from the
 * quorum owners at once. The sender is the authenticated peer; the body is empty, as is the
 * reply.
 */
export const DfsDeparted = object({});

/** The summary of one metadata record, as listings and anti-entropy see it. */
export const MetaSummarySchema = object({
  path,
  size: uint,
  version: uint,
  blocks: uint,
  pieces: uint,
  blockBytes: uint,
  createdMs: uint,
  modifiedMs: uint,
  appendSeq: uint,
  /** True for a tombstone (a removed file). */
  deleted: bool,
  /** How far the record's history is confirmed (`lib/dfs/meta_order.ts`); absent: through itself. */
  confirmed: optional(object({ version: uint, appendSeq: uint })),
  /** The record's history head (`lib/dfs/meta_head.ts`): tells apart records of one order. */
  head: optional(str(64)),
});
/** A record summary. */
export type MetaSummary = Infer<typeof MetaSummarySchema>;

/** Lists the receiver's local metadata records under a path prefix. */
export const DfsMetaList = object({ prefix: str(MAX_WIRE_PATH), limit: uint });
/** Reply to {@link DfsMetaList}. */
export const DfsMetaListReply = object({ files: array(MetaSummarySchema, MAX_LIST) });

/** Asks for the summaries of the records whose placement key is in `(start, end]`. */
export const DfsMetaRange = object({ start: ringKeyHex, end: ringKeyHex });
/** Reply to {@link DfsMetaRange}. */
export const DfsMetaRangeReply = object({ files: array(MetaSummarySchema, MAX_LIST) });

/** Asks for the anti-entropy digest of the blocks in `(start, end]`. */
export const DfsDigest = object({
  start: ringKeyHex,
  end: ringKeyHex,
  buckets: uint,
  /** Buckets whose entries to include. */
  detail: optional(array(uint, 65536)),
});
/** Body of `dfs.digest`. */
export type DfsDigest = Infer<typeof DfsDigest>;

/** A file's size and checksum of one block, as a put commits them. */
export const BlockContentSchema = object({ size: uint, checksum: str(64) });

/**
 * Sent to the metadata primary once every block of a put is stored on its replicas:
 * create (or, with `overwrite`, replace) the record of `path`.
 */
export const DfsCommit = object({
  path,
  /** Incarnation id the blocks were written under. */
  fileId: str(64),
  blockBytes: uint,
  blocks: array(BlockContentSchema, MAX_FILE_BLOCKS),
  overwrite: bool,
  nowMs: uint,
  /** Replace only a file of exactly this many bytes (0: absent or empty). */
  expectSize: optional(uint),
});
/** Body of `dfs.commit`. */
export type DfsCommit = Infer<typeof DfsCommit>;

/** What a file looks like after a mutation (the `FileStat` of `lib/dfs/file_meta.ts`). */
export const FileStatSchema = object({
  path,
  size: uint,
  version: uint,
  blocks: uint,
  pieces: uint,
  blockBytes: uint,
  createdMs: uint,
  modifiedMs: uint,
  appendSeq: uint,
});

/** Opens an append stream to the metadata primary; the appended bytes follow. */
export const DfsAppend = object({ path, nowMs: uint, expectSize: optional(uint) });
/** Body of `dfs.append`. */
export type DfsAppend = Infer<typeof DfsAppend>;

/** Largest append sent inline in one request instead of a stream. */
export const MAX_INLINE_APPEND = 1024 * 1024;

/** A small append to the metadata primary, the bytes inline. */
export const DfsAppendBytes = object({
  path,
  nowMs: uint,
  data: bytes(MAX_INLINE_APPEND),
  expectSize: optional(uint),
});
/** Body of `dfs.append_bytes`. */
export type DfsAppendBytes = Infer<typeof DfsAppendBytes>;

/** Asks the metadata primary to remove `path` (tombstone, then block deletion). */
export const DfsRemove = object({ path, nowMs: uint });
/** Reply to {@link DfsRemove}: the tombstone's version. */
export const DfsRemoveReply = object({ version: uint });

/** Asks the metadata primary to merge the appended pieces of `path`. */
export const DfsMerge = object({ path, nowMs: uint });

/** Every DFS message type (and the ring's) with its schema, for a `MessageRegistry`. */
export const dfsMessages: Record<string, Schema<unknown>> = {
  ...ringMessages,
  "dfs.block_put": DfsBlockPut,
  "dfs.block_put.reply": DfsBlockPutReply,
  "dfs.block_get": DfsBlockGet,
  "dfs.block_get.reply": DfsBlockGetReply,
  "dfs.block_del": DfsBlockDel,
  "dfs.block_del.reply": DfsBlockDelReply,
  "dfs.meta_get": DfsMetaGet,
  "dfs.meta_get.reply": DfsMetaGetReply,
  "dfs.meta_put": DfsMetaPut,
  "dfs.meta_put.reply": DfsMetaPutReply,
  "dfs.meta_op": DfsMetaOp,
  "dfs.meta_op.reply": DfsMetaOpReply,
  "dfs.meta_mark": DfsMetaMark,
  "dfs.meta_mark.reply": DfsMetaMarkReply,
  "dfs.departed": DfsDeparted,
  "dfs.departed.reply": DfsDeparted,
  "dfs.meta_list": DfsMetaList,
  "dfs.meta_list.reply": DfsMetaListReply,
  "dfs.meta_range": DfsMetaRange,
  "dfs.meta_range.reply": DfsMetaRangeReply,
  "dfs.digest": DfsDigest,
  "dfs.digest.reply": RangeDigestSchema,
  "dfs.commit": DfsCommit,
  "dfs.commit.reply": FileStatSchema,
  "dfs.append": DfsAppend,
  "dfs.append.reply": FileStatSchema,
  "dfs.append_bytes": DfsAppendBytes,
  "dfs.append_bytes.reply": FileStatSchema,
  "dfs.remove": DfsRemove,
  "dfs.remove.reply": DfsRemoveReply,
  "dfs.merge": DfsMerge,
  "dfs.merge.reply": FileStatSchema,
};
