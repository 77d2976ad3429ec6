/**
 * The local half of `logs tail`: a node's most recent log lines, or the
 * lines written after a cursor, read from its log files.
 *
 * A cursor is `<inode>:<offset>`: a byte offset just after a complete line
 * in the file with that inode. Rotation renames `node.jsonl` without
 * changing its inode, so a cursor survives rotation: reading continues to
 * the end of the renamed file and then on into the newer files. When the
 * cursor's file has been pruned, reading restarts at the oldest file still
 * there. A file is only left once a newer one exists (the writer has moved
 * on), so a partial last line of the active file is never returned half.
 *
 * @module
 */
import type { LogsTailLine, LogsTailReply } from "../../proto/logs.ts";
import { listLogFiles } from "./files.ts";
import { toTailLine } from "./lines.ts";

/** A log file with its identity and size when listed. */
export interface LogFileInfo {
  /** Path. */
  path: string;
  /** Inode (0 where the platform has none). */
  ino: number;
  /** Size in bytes. */
  size: number;
}

/** Options of {@link readTail}. */
export interface ReadTailOptions {
  /** This node's id (for lines that carry none). */
  node: string;
  /** Most lines returned. */
  limit: number;
  /** Keeps a line. */
  keep: (l: LogsTailLine) => boolean;
  /** Resume after this cursor; without one, return the latest lines. */
  cursor?: string;
  /** Most bytes read per call (default 8 MiB). */
  maxScanBytes?: number;
}

const BLOCK = 256 * 1024;
const decoder = new TextDecoder();

/** The node's log files oldest first, with inode and size (files gone meanwhile are left out). */
export async function statLogFiles(dataDir: string): Promise<LogFileInfo[]> {
  const out: LogFileInfo[] = [];
  for (const path of await listLogFiles(dataDir)) {
    try {
      const st = await Deno.stat(path);
      out.push({ path, ino: st.ino ?? 0, size: st.size });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

/** Parses a cursor; undefined when it is not of the form `<inode>:<offset>`. */
export function parseCursor(cursor: string): { ino: number; offset: number } | undefined {
  const m = /^(\d{1,20}):(\d{1,16})$/.exec(cursor);
  if (!m) return undefined;
  return { ino: Number(m[1]), offset: Number(m[2]) };
}

async function readAt(fh: Deno.FsFile, at: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  await fh.seek(at, Deno.SeekMode.Start);
  let n = 0;
  while (n < len) {
    const r = await fh.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Offset just after the last newline in `[0, size)` of the open file (0 when none). */
async function completeEnd(fh: Deno.FsFile, size: number): Promise<number> {
  let pos = size;
  while (pos > 0) {
    const start = Math.max(0, pos - BLOCK);
    const block = await readAt(fh, start, pos - start);
    const nl = block.lastIndexOf(10);
    if (nl >= 0) return start + nl + 1;
    pos = start;
  }
  return 0;
}

/** Reads a node's latest or next lines; see the module docs. */
export async function readTail(
  files: readonly LogFileInfo[],
  opts: ReadTailOptions,
): Promise<Omit<LogsTailReply, "node">> {
  if (files.length === 0) return { lines: [], cursor: "0:0", more: false };
  const budget = opts.maxScanBytes ?? 8 << 20;
  if (opts.cursor !== undefined) {
    const c = parseCursor(opts.cursor);
    if (c) return await readForward(files, c, opts, budget);
  }
  return await readLatest(files, opts, budget);
}

async function readLatest(
  files: readonly LogFileInfo[],
  opts: ReadTailOptions,
  budget: number,
): Promise<Omit<LogsTailReply, "node">> {
  const newest: LogsTailLine[] = [];
  let scanned = 0;
  let cursor = "";
  for (let i = files.length - 1; i >= 0 && newest.length < opts.limit; i--) {
    const f = files[i];
    let fh: Deno.FsFile;
    try {
      fh = await Deno.open(f.path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    try {
      let end = f.size;
      if (i === files.length - 1) {
        end = await completeEnd(fh, f.size);
        cursor = `${f.ino}:${end}`;
      }
      let pos = end;
      let rest: Uint8Array = new Uint8Array(0);
      // Bytes [pos, pos + rest.length) are read but hold no complete line yet.
      while (newest.length < opts.limit && scanned < budget) {
        if (pos === 0 && rest.length === 0) break;
        const start = Math.max(0, pos - BLOCK);
        let buf = pos > start ? concat(await readAt(fh, start, pos - start), rest) : rest;
        scanned += pos - start;
        pos = start;
        let len = buf.length;
        if (len > 0 && buf[len - 1] === 10) len--;
        for (;;) {
          const nl = buf.subarray(0, len).lastIndexOf(10);
          if (nl < 0 && pos > 0) break;
          const text = decoder.decode(buf.subarray(nl + 1, len));
          len = Math.max(0, nl);
          if (text.length > 0) {
            const line = toTailLine(text, opts.node);
            if (opts.keep(line)) newest.push(line);
            if (newest.length >= opts.limit) break;
          }
          if (nl < 0) break;
        }
        buf = buf.subarray(0, len);
        rest = pos === 0 ? new Uint8Array(0) : buf;
        if (pos === 0) break;
      }
    } finally {
      fh.close();
    }
    if (scanned >= budget) break;
  }
  if (cursor === "") cursor = `${files[files.length - 1].ino}:0`;
  return { lines: newest.reverse(), cursor, more: false };
}

async function readForward(
  files: readonly LogFileInfo[],
  c: { ino: number; offset: number },
  opts: ReadTailOptions,
  budget: number,
): Promise<Omit<LogsTailReply, "node">> {
  let idx = files.findIndex((f) => f.ino === c.ino);
  let offset = c.offset;
  if (idx < 0) {
    idx = 0;
    offset = 0;
  }
  if (offset > files[idx].size) offset = 0;
  const lines: LogsTailLine[] = [];
  let scanned = 0;
  let more = false;
  while (idx < files.length) {
    const f = files[idx];
    const final = idx < files.length - 1;
    let fh: Deno.FsFile;
    try {
      fh = await Deno.open(f.path, { read: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      idx++;
      offset = 0;
      continue;
    }
    let stop = false;
    try {
      // A final (rotated) file is read to its current end; the active one to its listed size.
      const size = final ? (await fh.stat()).size : f.size;
      let rest: Uint8Array = new Uint8Array(0);
      let pos = offset;
      while (pos < size) {
        if (scanned >= budget || lines.length >= opts.limit) {
          more = true;
          stop = true;
          break;
        }
        const block = await readAt(fh, pos, Math.min(BLOCK, size - pos));
        if (block.length === 0) break;
        scanned += block.length;
        pos += block.length;
        const buf = concat(rest, block);
        let from = 0;
        for (;;) {
          const nl = buf.indexOf(10, from);
          if (nl < 0) break;
          const text = decoder.decode(buf.subarray(from, nl));
          from = nl + 1;
          offset = pos - (buf.length - from);
          if (text.length > 0) {
            const line = toTailLine(text, opts.node);
            if (opts.keep(line)) lines.push(line);
            if (lines.length >= opts.limit) break;
          }
        }
        rest = buf.subarray(from);
        if (lines.length >= opts.limit) {
          more = offset < size;
          stop = more;
          break;
        }
      }
      if (!stop && final && rest.length > 0 && lines.length < opts.limit) {
        const line = toTailLine(decoder.decode(rest), opts.node);
        if (opts.keep(line)) lines.push(line);
      }
    } finally {
      fh.close();
    }
    if (stop || !final) break;
    idx++;
    offset = 0;
  }
  if (idx >= files.length) idx = files.length - 1;
  return { lines, cursor: `${files[idx].ino}:${offset}`, more };
}
