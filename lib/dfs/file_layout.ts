/**
 * Where a file's bytes sit in its blocks: the extents of a byte range, and the plan of a
 * merge that rewrites appended pieces into full-size blocks (committed by `commitMerge` in
 * `file_meta.ts`). Pure functions of a metadata record.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { blockIdFor, type BlockRef, type FileMeta, splitSizes } from "./file_meta.ts";

/** A part of a block that holds some file bytes. */
export interface Extent {
  /** Index of the block in the record's block list. */
  index: number;
  /** The block. */
  block: BlockRef;
  /** First byte inside the block. */
  start: number;
  /** End (exclusive) inside the block. */
  end: number;
  /** Offset of `start` in the file. */
  fileOffset: number;
}

/** The block extents holding bytes `[offset, offset + length)` of the file (clamped to its size). */
export function locate(rec: FileMeta, offset: number, length: number): Extent[] {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ElasticoreError(
      "dfs_bad_range",
      "range offset and length must be non-negative integers",
      { status: 400 },
    );
  }
  const end = Math.min(offset + length, rec.size);
  const out: Extent[] = [];
  let pos = 0;
  for (let i = 0; i < rec.blocks.length && pos < end; i++) {
    const b = rec.blocks[i];
    const bEnd = pos + b.size;
    if (bEnd > offset) {
      const s = Math.max(offset, pos);
      out.push({
        index: i,
        block: b,
        start: s - pos,
        end: Math.min(end, bEnd) - pos,
        fileOffset: s,
      });
    }
    pos = bEnd;
  }
  return out;
}

/** True if every block but the last is full-size (nothing to merge). */
export function isCompact(rec: FileMeta): boolean {
  for (let i = 0; i < rec.blocks.length - 1; i++) {
    if (rec.blocks[i].size !== rec.blockBytes) return false;
  }
  return true;
}

/** One full-size block a merge writes, and where its bytes come from. */
export interface MergeTarget {
  /** Its block number (never used before in this file). */
  blockNo: number;
  /** Its id. */
  id: string;
  /** Its size. */
  size: number;
  /** The source extents, in order. */
  sources: Extent[];
}

/** What a merge writes; {@link commitMerge} turns it into a record once written. */
export interface MergePlan {
  /** `appendSeq` the plan was made at; the commit fails if the record moved on. */
  baseSeq: number;
  /** Number of leading blocks the merged blocks replace (all blocks at plan time). */
  covered: number;
  /** Version the merged blocks are written with (the record's next version). */
  version: number;
  /** The blocks to write. */
  targets: MergeTarget[];
}

/** Plans rewriting all blocks into full-size blocks; null if the file is already compact. */
export function planMerge(rec: FileMeta, nonce?: string): MergePlan | null {
  if (isCompact(rec)) return null;
  const targets = splitSizes(rec.size, rec.blockBytes).map((size, i) => {
    const blockNo = rec.nextBlockNo + i;
    return {
      blockNo,
      id: blockIdFor(rec.path, rec.fileId, blockNo, nonce),
      size,
      sources: locate(rec, i * rec.blockBytes, size),
    };
  });
  return { baseSeq: rec.appendSeq, covered: rec.blocks.length, version: rec.version + 1, targets };
}
