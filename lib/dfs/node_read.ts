/**
 * How a DFS node streams a file's bytes to a reader: the blocks of a byte range are read
 * ahead of the reader (at least two, more while they are small, so a log of many small
 * appended pieces does not cost one round trip per piece) and handed out in order.
 *
 * @module
 */
import { locate } from "./file_layout.ts";
import type { FileMeta, FileStat } from "./file_meta.ts";
import type { BlockIo } from "./node_blocks.ts";
import { userError } from "./node_errors.ts";

/** A byte range of a file: `length` bytes from `offset` (to the end when absent). */
export interface FileRange {
  /** First byte. */
  offset: number;
  /** Number of bytes. */
  length?: number;
}

/** A file being read. */
export interface FileRead {
  /** The file. */
  stat: FileStat;
  /** First byte of the body. */
  offset: number;
  /** Bytes in the body. */
  length: number;
  /** The bytes, streamed block by block. */
  body: ReadableStream<Uint8Array>;
}

/** Most blocks a read keeps in flight ahead of the reader (small blocks only). */
const READ_AHEAD_BLOCKS = 64;
/** Bytes a read keeps in flight ahead of the reader beyond the first two blocks. */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * The bytes `offset .. offset + length` of `rec` (a valid range), streamed block by block from
 * `blocks`; `onBytes` counts what is handed out.
 */
export function readBody(
  blocks: BlockIo,
  rec: FileMeta,
  offset: number,
  length: number,
  onBytes: (n: number) => void,
): ReadableStream<Uint8Array> {
  const extents = locate(rec, offset, length);
  let i = 0;
  const ahead: Promise<Uint8Array>[] = [];
  const sizes: number[] = [];
  let aheadBytes = 0;
  // Read ahead at least 2 blocks, and more while they are small: a file of many small
  // appended pieces (a log) would otherwise cost one round trip per piece.
  const fill = () => {
    while (
      i < extents.length &&
      (ahead.length < 2 || (ahead.length < READ_AHEAD_BLOCKS && aheadBytes < READ_AHEAD_BYTES))
    ) {
      const x = extents[i++];
      sizes.push(x.end - x.start);
      aheadBytes += x.end - x.start;
      const whole = x.start === 0 && x.end === x.block.size;
      const p = blocks.read(
        x.block,
        whole ? undefined : { offset: x.start, length: x.end - x.start },
      );
      p.catch(() => {});
      ahead.push(p);
    }
  };
  return new ReadableStream<Uint8Array>({
    pull: async (c) => {
      fill();
      const next = ahead.shift();
      if (!next) {
        c.close();
        return;
      }
      aheadBytes -= sizes.shift()!;
      const bytes = await next.catch((e) => {
        throw userError(e);
      });
      fill();
      onBytes(bytes.byteLength);
      c.enqueue(bytes);
    },
    cancel: () => {
      i = extents.length;
      ahead.length = 0;
    },
  }, { highWaterMark: 0 });
}
