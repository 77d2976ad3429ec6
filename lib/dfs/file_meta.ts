/**
 * DFS file metadata: the record stored at `hash(path)` on the RF ring successors, and the
 * pure functions that create, overwrite, append to, merge and describe it (where its bytes
 * sit in its blocks, and merge planning: `file_layout.ts`).
 *
 * Design:
 * - A file incarnation has a `fileId` (chosen by the caller when the file is created; a new
 *   file at a deleted path gets a new one). Its blocks are numbered by `blockNo` and a number
 *   is never reused within an incarnation (`nextBlockNo` only grows), so a block id
 *   `<placement key>.<fileId>.<blockNo>` names one immutable content forever; the placement key
 *   is `hash(path, blockNo)` (see `lib/dfs/ring/id.ts`). A block's `version` is the file
 *   version at which it was written.
 * - Every mutation (append, overwrite, merge) is ordered by the metadata primary: it takes the
 *   next `appendSeq` and is described by a {@link MetaOp}. The primary applies the op to its
 *   own record with {@link applyOp}; replicas apply the same ops strictly in `appendSeq` order
 *   through a {@link ReplicaApplier}, so every replica applies them in one order and reaches
 *   the same record.
 * - Appends never modify stored blocks: the appended bytes become one or more new "piece"
 *   blocks (each at most `blockBytes`) at the end of the block list. Blocks stay immutable, so
 *   an append only writes new blocks and one metadata op. Many small appends leave many small
 *   pieces; {@link planMerge} / {@link commitMerge} rewrite them into full-size blocks
 *   (version bump). While a merge is in progress the primary must not order other ops on the
 *   file (the commit checks the base `appendSeq`); if a merge is abandoned, the caller deletes
 *   the blocks it wrote.
 * - `overwrite` replaces the content (version bump, new block numbers); `create` refuses to
 *   replace an existing file unless `overwrite` is set.
 *
 * Everything here is sans-I/O: time comes in as `nowMs`, ids from the caller.
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { ElasticoreError } from "../errors.ts";
import {
  array,
  type Infer,
  object,
  oneOf,
  optional,
  safeParse,
  type Schema,
  str,
  uint,
} from "../../proto/schema.ts";
import { chainHead, sealed } from "./meta_head.ts";
import { confirmedOf, UNCONFIRMED } from "./meta_order.ts";
import { blockKey, ringIdToHex } from "./ring/id.ts";
import type { MergePlan } from "./file_layout.ts";

/** Longest path, in UTF-16 code units. */
export const MAX_PATH_LENGTH = 4096;
/** Most blocks in one file. */
export const MAX_FILE_BLOCKS = 1 << 20;

/** Wire schema of a block reference. */
export const BlockRefSchema = object({
  id: str(160),
  size: uint,
  checksum: str(64),
  version: uint,
});
/** A block of a file: id, size in bytes, SHA-256 (hex) and the file version that wrote it. */
export type BlockRef = Infer<typeof BlockRefSchema>;

/** Wire schema of the file metadata record. */
export const FileMetaSchema = object({
  path: str(MAX_PATH_LENGTH),
  fileId: str(64),
  size: uint,
  version: uint,
  blockBytes: uint,
  blocks: array(BlockRefSchema, MAX_FILE_BLOCKS),
  nextBlockNo: uint,
  createdMs: uint,
  modifiedMs: uint,
  appendSeq: uint,
  head: optional(str(64)),
  confirmed: optional(object({ version: uint, appendSeq: uint })),
});
/**
 * The metadata record of one file; `head` identifies its history (`meta_head.ts`),
 * `confirmed` says how far that history is confirmed (`meta_order.ts`; absent on old records).
 */
export type FileMeta = Infer<typeof FileMetaSchema>;

/** Wire schema of an ordered metadata mutation. */
export const MetaOpSchema = object({
  seq: uint,
  kind: oneOf(["append", "overwrite", "merge"]),
  blocks: array(BlockRefSchema, MAX_FILE_BLOCKS),
  covered: uint,
  nowMs: uint,
  base: optional(str(64)),
});
/**
 * One ordered mutation; `base` is the head of the record it applies to. `append`: `blocks` are new pieces added at the end. `overwrite`:
 * `blocks` replace the whole content. `merge`: `blocks` replace the first `covered` blocks.
 */
export type MetaOp = Infer<typeof MetaOpSchema>;

/** The schemas of this module, for a `MessageRegistry`. */
export const FILE_META_SCHEMAS: Record<string, Schema<unknown>> = {
  "dfs.file_meta": FileMetaSchema,
  "dfs.meta_op": MetaOpSchema,
};

/** Content of a block about to be written: its size and SHA-256. */
export interface BlockContent {
  /** Size in bytes (1 ..= blockBytes). */
  size: number;
  /** Lowercase hex SHA-256. */
  checksum: string;
}

/** A metadata error with a stable code. */
function metaError(code: string, message: string, status = 400): ElasticoreError {
  return new ElasticoreError(code, message, { status });
}

const SHA_RE = /^[0-9a-f]{64}$/;
const FILE_ID_RE = /^[0-9A-Za-z_-]{1,64}$/;

/** The id of block `blockNo` of incarnation `fileId` of `path`. */
export function blockIdFor(
  path: string,
  fileId: string,
  blockNo: number,
  nonce?: string,
): string {
  const id = `${ringIdToHex(blockKey(path, blockNo))}.${fileId}.${blockNo}`;
  return nonce ? `${id}.${nonce}` : id;
}

const BLOCK_ID_RE = /^[0-9a-f]{16}\.[0-9A-Za-z_-]{1,64}\.(\d{1,15})(?:\.([0-9a-z]{1,16}))?$/;

/**
 * A fresh block nonce. Appends and merges put one in their block ids: a batch that failed after
 * storing some blocks leaves them behind (nothing references them), and the next batch reuses the
 * same block numbers, so without the nonce a replica could hold a different block under the same
 * id and refuse the new one ("already exists with different content").
 */
export function newBlockNonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(36).padStart(2, "0")).join("").slice(0, 12);
}

/** The block number inside a block id, or -1 if the id is not well-formed. */
export function blockNoOf(id: string): number {
  const m = BLOCK_ID_RE.exec(id);
  return m ? Number(m[1]) : -1;
}

/** Whether `id` names block `blockNo` of incarnation `fileId` of `path` (with or without a nonce). */
export function isBlockOf(id: string, path: string, fileId: string, blockNo: number): boolean {
  const base = blockIdFor(path, fileId, blockNo);
  if (id === base) return true;
  return id.startsWith(`${base}.`) && BLOCK_ID_RE.test(id);
}

/** Sizes of the full-size blocks that hold `total` bytes (the last may be shorter). */
export function splitSizes(total: number, blockBytes: number): number[] {
  const out: number[] = [];
  for (let off = 0; off < total; off += blockBytes) out.push(Math.min(blockBytes, total - off));
  return out;
}

function checkContents(contents: readonly BlockContent[], blockBytes: number, full: boolean) {
  contents.forEach((c, i) => {
    if (!Number.isSafeInteger(c.size) || c.size < 1 || c.size > blockBytes) {
      throw metaError("dfs_bad_meta", `block ${i}: size ${c.size} is not in [1, ${blockBytes}]`);
    }
    if (full && i < contents.length - 1 && c.size !== blockBytes) {
      throw metaError("dfs_bad_meta", `block ${i}: only the last block may be short`);
    }
    if (!SHA_RE.test(c.checksum)) {
      throw metaError("dfs_bad_meta", `block ${i}: checksum must be a hex SHA-256`);
    }
  });
  if (contents.length > MAX_FILE_BLOCKS) {
    throw metaError("dfs_bad_meta", `a file has at most ${MAX_FILE_BLOCKS} blocks`);
  }
}

function refs(
  rec: FileMeta,
  contents: readonly BlockContent[],
  version: number,
  nonce?: string,
): BlockRef[] {
  return contents.map((c, i) => ({
    id: blockIdFor(rec.path, rec.fileId, rec.nextBlockNo + i, nonce),
    size: c.size,
    checksum: c.checksum,
    version,
  }));
}

/** Input of {@link createMeta}. */
export interface CreateInput {
  /** Validated DFS path. */
  path: string;
  /** Incarnation id: 1-64 characters of `[0-9A-Za-z_-]`, new for every created file. */
  fileId: string;
  /** Block size of the file. */
  blockBytes: number;
  /** Content as full-size blocks (see {@link splitSizes}). */
  blocks: readonly BlockContent[];
  /** Current time. */
  nowMs: number;
  /** Replace an existing file instead of failing with `dfs_exists`. */
  overwrite?: boolean;
}

/** The result of a mutation: the new record and the op replicas apply to reach it. */
export interface MetaChange {
  /** The record after the mutation. */
  record: FileMeta;
  /** The ordered op; `null` for the creation of a new file (replicas store the record). */
  op: MetaOp | null;
  /** Blocks no longer referenced, to delete once the record is stored. */
  obsolete: BlockRef[];
}

/**
 * Creates the record of a new file, or replaces `existing` when `overwrite` is set (else
 * `dfs_exists`). The block ids of the returned record say where to write the content.
 */
export function createMeta(existing: FileMeta | null, input: CreateInput): MetaChange {
  if (existing) {
    if (!input.overwrite) {
      throw metaError(
        "dfs_exists",
        `${existing.path} already exists (version ${existing.version}); pass overwrite to replace it`,
        409,
      );
    }
    if (existing.path !== input.path) throw metaError("dfs_bad_meta", "path mismatch");
    return overwriteMeta(existing, input.blocks, input.nowMs);
  }
  if (typeof input.path !== "string" || !input.path || input.path.length > MAX_PATH_LENGTH) {
    throw metaError("dfs_bad_meta", `path must have 1 to ${MAX_PATH_LENGTH} characters`);
  }
  if (!FILE_ID_RE.test(input.fileId)) {
    throw metaError("dfs_bad_meta", "fileId must be 1-64 characters of [0-9A-Za-z_-]");
  }
  if (!Number.isSafeInteger(input.blockBytes) || input.blockBytes < 1) {
    throw metaError("dfs_bad_meta", "blockBytes must be a positive integer");
  }
  checkTime(input.nowMs);
  checkContents(input.blocks, input.blockBytes, true);
  const base: FileMeta = {
    path: input.path,
    fileId: input.fileId,
    size: 0,
    version: 1,
    blockBytes: input.blockBytes,
    blocks: [],
    nextBlockNo: 0,
    createdMs: input.nowMs,
    modifiedMs: input.nowMs,
    appendSeq: 0,
    confirmed: { ...UNCONFIRMED },
  };
  const blocks = refs(base, input.blocks, 1);
  const record = sealed({ ...base, blocks, size: sumSizes(blocks), nextBlockNo: blocks.length });
  return { record, op: null, obsolete: [] };
}

/** `op` with the head of `rec` as its base (records without a head give ops without one). */
function basedOn(rec: FileMeta, op: MetaOp): MetaOp {
  return rec.head === undefined ? op : { ...op, base: rec.head };
}

function checkTime(nowMs: number): void {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw metaError("dfs_bad_meta", "nowMs must be a non-negative integer");
  }
}

function sumSizes(blocks: readonly { size: number }[]): number {
  let n = 0;
  for (const b of blocks) n += b.size;
  return n;
}

/** Replaces the content of `rec` (version bump, new block numbers). */
export function overwriteMeta(
  rec: FileMeta,
  contents: readonly BlockContent[],
  nowMs: number,
): MetaChange {
  checkContents(contents, rec.blockBytes, true);
  checkTime(nowMs);
  const op = basedOn(rec, {
    seq: rec.appendSeq + 1,
    kind: "overwrite",
    blocks: refs(rec, contents, rec.version + 1),
    covered: rec.blocks.length,
    nowMs,
  });
  return { record: applyOp(rec, op), op, obsolete: rec.blocks };
}

/**
 * Orders an append on the primary: the appended bytes, already cut into pieces of at most
 * `blockBytes`, become new blocks at the end; the op takes the next `appendSeq`.
 */
export function appendMeta(
  rec: FileMeta,
  pieces: readonly BlockContent[],
  nowMs: number,
  nonce?: string,
): MetaChange {
  if (pieces.length === 0) throw metaError("dfs_bad_meta", "an append needs at least one piece");
  checkContents(pieces, rec.blockBytes, false);
  checkTime(nowMs);
  const op = basedOn(rec, {
    seq: rec.appendSeq + 1,
    kind: "append",
    blocks: refs(rec, pieces, rec.version, nonce),
    covered: 0,
    nowMs,
  });
  return { record: applyOp(rec, op), op, obsolete: [] };
}

/**
 * Commits a merge whose target blocks were written with the given SHA-256 checksums:
 * version bump, next `appendSeq`. Fails with `dfs_meta_conflict` if the record changed since
 * the plan was made.
 */
export function commitMerge(
  rec: FileMeta,
  plan: MergePlan,
  checksums: readonly string[],
  nowMs: number,
): MetaChange {
  if (rec.appendSeq !== plan.baseSeq || rec.version + 1 !== plan.version) {
    throw metaError(
      "dfs_meta_conflict",
      `${rec.path} changed since the merge was planned (seq ${plan.baseSeq} → ${rec.appendSeq})`,
      409,
    );
  }
  if (checksums.length !== plan.targets.length) {
    throw metaError("dfs_bad_meta", `merge needs ${plan.targets.length} checksums`);
  }
  checkTime(nowMs);
  const blocks = plan.targets.map((t, i) => {
    if (!SHA_RE.test(checksums[i])) throw metaError("dfs_bad_meta", "checksum must be a SHA-256");
    return { id: t.id, size: t.size, checksum: checksums[i], version: plan.version };
  });
  const op = basedOn(rec, {
    seq: rec.appendSeq + 1,
    kind: "merge",
    blocks,
    covered: plan.covered,
    nowMs,
  });
  return { record: applyOp(rec, op), op, obsolete: rec.blocks.slice(0, plan.covered) };
}

/**
 * Applies one ordered op; it must carry the next `appendSeq` (`dfs_meta_order` otherwise),
 * apply to this record's history (its `base` is the record's head, else `dfs_meta_conflict`)
 * and be consistent with the record (`dfs_bad_meta`). Pure: returns a new record.
 */
export function applyOp(rec: FileMeta, op: MetaOp): FileMeta {
  if (op.seq !== rec.appendSeq + 1) {
    throw metaError(
      "dfs_meta_order",
      `${rec.path}: op ${op.seq} applied out of order (last applied ${rec.appendSeq})`,
      409,
    );
  }
  if (op.base !== undefined && rec.head !== undefined && op.base !== rec.head) {
    throw metaError(
      "dfs_meta_conflict",
      `${rec.path}: op ${op.seq} applies to another history`,
      409,
    );
  }
  let next = rec.nextBlockNo;
  for (const b of op.blocks) {
    const n = blockNoOf(b.id);
    if (n !== next || !isBlockOf(b.id, rec.path, rec.fileId, n)) {
      throw metaError("dfs_bad_meta", `${rec.path}: op ${op.seq} has unexpected block ${b.id}`);
    }
    if (b.size < 1 || b.size > rec.blockBytes || !SHA_RE.test(b.checksum)) {
      throw metaError("dfs_bad_meta", `${rec.path}: op ${op.seq} has a malformed block ${b.id}`);
    }
    next++;
  }
  const head = chainHead(rec.head, op);
  // An op never confirms anything: the new record keeps its base's confirmed point.
  const confirmed = confirmedOf(rec);
  const base = {
    ...rec,
    appendSeq: op.seq,
    nextBlockNo: next,
    modifiedMs: op.nowMs,
    head,
    confirmed,
  };
  switch (op.kind) {
    case "append": {
      if (op.blocks.some((b) => b.version !== rec.version) || op.covered !== 0) {
        throw metaError("dfs_bad_meta", `${rec.path}: append op ${op.seq} is malformed`);
      }
      const blocks = [...rec.blocks, ...op.blocks];
      return { ...base, blocks, size: rec.size + sumSizes(op.blocks) };
    }
    case "overwrite": {
      if (op.blocks.some((b) => b.version !== rec.version + 1)) {
        throw metaError("dfs_bad_meta", `${rec.path}: overwrite op ${op.seq} is malformed`);
      }
      return { ...base, version: rec.version + 1, blocks: op.blocks, size: sumSizes(op.blocks) };
    }
    case "merge": {
      const covered = rec.blocks.slice(0, op.covered);
      if (
        op.covered > rec.blocks.length || sumSizes(covered) !== sumSizes(op.blocks) ||
        op.blocks.some((b) => b.version !== rec.version + 1)
      ) {
        throw metaError("dfs_bad_meta", `${rec.path}: merge op ${op.seq} is malformed`);
      }
      const blocks = [...op.blocks, ...rec.blocks.slice(op.covered)];
      return { ...base, version: rec.version + 1, blocks };
    }
  }
}

/** A summary of a file for `fs stat`. */
export interface FileStat {
  /** Path. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Version (bumped by overwrite and merge). */
  version: number;
  /** Number of blocks. */
  blocks: number;
  /** Blocks shorter than the block size, not counting the last (what a merge would fix). */
  pieces: number;
  /** Block size. */
  blockBytes: number;
  /** Creation time (ms since the epoch). */
  createdMs: number;
  /** Last modification time. */
  modifiedMs: number;
  /** Sequence number of the last ordered mutation. */
  appendSeq: number;
}

/** Describes a file. */
export function statMeta(rec: FileMeta): FileStat {
  let pieces = 0;
  for (let i = 0; i < rec.blocks.length - 1; i++) {
    if (rec.blocks[i].size !== rec.blockBytes) pieces++;
  }
  return {
    path: rec.path,
    size: rec.size,
    version: rec.version,
    blocks: rec.blocks.length,
    pieces,
    blockBytes: rec.blockBytes,
    createdMs: rec.createdMs,
    modifiedMs: rec.modifiedMs,
    appendSeq: rec.appendSeq,
  };
}

/** Checks the invariants of a record beyond its schema (sizes add up, block numbers grow). */
export function validateMeta(rec: FileMeta): void {
  if (sumSizes(rec.blocks) !== rec.size) {
    throw metaError("dfs_bad_meta", `${rec.path}: block sizes do not add up to ${rec.size}`);
  }
  let prev = -1;
  for (const b of rec.blocks) {
    const n = blockNoOf(b.id);
    if (n <= prev || n >= rec.nextBlockNo || !isBlockOf(b.id, rec.path, rec.fileId, n)) {
      throw metaError("dfs_bad_meta", `${rec.path}: block ${b.id} is out of order`);
    }
    prev = n;
  }
  if (rec.blockBytes < 1 || rec.version < 1) {
    throw metaError("dfs_bad_meta", `${rec.path}: blockBytes and version must be positive`);
  }
}

/** Encodes a record (msgpack). */
export function encodeMeta(rec: FileMeta): Uint8Array {
  return encode(rec);
}

/** Decodes and validates a record; throws `dfs_bad_meta` naming the bad field. */
export function decodeMeta(bytes: Uint8Array): FileMeta {
  const rec = decodeWith(FileMetaSchema, bytes, "file metadata");
  validateMeta(rec);
  return rec;
}

/** Encodes an op (msgpack). */
export function encodeOp(op: MetaOp): Uint8Array {
  return encode(op);
}

/** Decodes and validates an op; throws `dfs_bad_meta` naming the bad field. */
export function decodeOp(bytes: Uint8Array): MetaOp {
  return decodeWith(MetaOpSchema, bytes, "metadata op");
}

function decodeWith<T>(schema: Schema<T>, bytes: Uint8Array, what: string): T {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (e) {
    throw metaError("dfs_bad_meta", `${what} is not valid msgpack: ${(e as Error).message}`);
  }
  const r = safeParse(schema, raw);
  if (!r.ok) throw metaError("dfs_bad_meta", `${what}: ${r.error.message}`);
  return r.value;
}
