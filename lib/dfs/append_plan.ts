/**
 * The pure half of the primary's group commit (`node_primary.ts`): the queue of waiting
 * appends, how the next batch is taken from it, which appends of a batch meet their size
 * precondition, and how a batch becomes new piece blocks and one ordered op.
 *
 * @module
 */
import {
  appendMeta,
  type BlockContent,
  type FileMeta,
  type FileStat,
  type MetaOp,
  newBlockNonce,
  splitSizes,
} from "./file_meta.ts";
import { sizePrecondition } from "./node_errors.ts";
import { sha256Hex } from "./store/checksum.ts";

/** Largest single append, in bytes (it is buffered on the primary). */
export const MAX_APPEND_BYTES = 64 * 1024 * 1024;

/** A batch of appends as ordered after a record. */
export interface AppendPlan {
  /** The record after the batch. */
  record: FileMeta;
  /** The ordered op (null when the batch carries no bytes). */
  op: MetaOp | null;
  /** The bytes of each new piece block. */
  pieces: Uint8Array[];
}

/** Orders one batch of appends after `rec`: its bytes become new piece blocks and one op. */
export function planAppend(
  rec: FileMeta,
  batch: readonly { bytes: Uint8Array }[],
  nowMs: number,
): AppendPlan {
  const data = concat(batch.map((a) => a.bytes));
  if (data.byteLength === 0) return { record: rec, op: null, pieces: [] };
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const size of splitSizes(data.byteLength, rec.blockBytes)) {
    pieces.push(data.subarray(at, at += size));
  }
  const contents: BlockContent[] = pieces.map((p) => ({
    size: p.byteLength,
    checksum: sha256Hex(p),
  }));
  const change = appendMeta(rec, contents, Math.max(nowMs, rec.modifiedMs), newBlockNonce());
  return { record: change.record, op: change.op, pieces };
}

/** An append waiting for its batch. */
export interface QueuedAppend {
  bytes: Uint8Array;
  nowMs: number;
  /** Applies only if the file then has exactly this many bytes (0: absent or empty). */
  expectSize?: number;
  resolve(stat: FileStat): void;
  reject(e: unknown): void;
  /** Times it was re-planned after a conflict. */
  rebases: number;
}

/** The appends waiting on one path, and whether a window is committing them. */
export interface AppendQueue {
  items: QueuedAppend[];
  running: boolean;
}

/**
 * The appends of `batch` whose size precondition holds on `rec` (the file as ordered so
 * far; null: absent), in order; the others are refused with `dfs_size_precondition`.
 */
export function admitAppends(
  path: string,
  rec: FileMeta | null,
  batch: QueuedAppend[],
): QueuedAppend[] {
  let size = rec?.size ?? 0;
  const admitted: QueuedAppend[] = [];
  for (const a of batch) {
    if (a.expectSize !== undefined && a.expectSize !== size) {
      a.reject(sizePrecondition(path, size, a.expectSize, "append"));
      continue;
    }
    size += a.bytes.byteLength;
    admitted.push(a);
  }
  return admitted;
}

/** Takes the next batch: the queued appends up to the batch size limit (at least one). */
export function takeBatch(q: AppendQueue, blockBytes: number): QueuedAppend[] {
  const limit = Math.max(4 * blockBytes, MAX_APPEND_BYTES);
  let total = 0;
  let n = 0;
  while (n < q.items.length && (n === 0 || total + q.items[n].bytes.byteLength <= limit)) {
    total += q.items[n++].bytes.byteLength;
  }
  return q.items.splice(0, n);
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
