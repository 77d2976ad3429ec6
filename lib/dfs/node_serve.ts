/**
 * The RPC handlers of a DFS node: the replica side (store, read and delete blocks; store
 * records and apply ordered ops; list records; anti-entropy digests) and the requests a
 * client-facing node sends to a file's metadata primary (commit, append, remove, merge).
 *
 * @module
 */
import type {
  DfsAppend,
  DfsAppendBytes,
  DfsBlockDel,
  DfsBlockGet,
  DfsBlockPut,
  DfsCommit,
  DfsDigest,
  DfsMetaMark,
  DfsMetaOp,
} from "../../proto/dfs.ts";
import type { FileMeta } from "./file_meta.ts";
import { readAll, writeAll } from "./node_blocks.ts";
import type { NodeContext } from "./node_context.ts";
import { sizeMismatch } from "./node_errors.ts";
import { isTombstone } from "./node_meta.ts";
import { MAX_APPEND_BYTES, type Primary } from "./node_primary.ts";
import { ringIdFromHex } from "./ring/id.ts";
import { sha256Hex } from "./store/checksum.ts";
import { DfsChecksumError } from "./store/errors.ts";
import { KeyedMutex } from "./store/keyed_mutex.ts";
import { ReplicaApplier } from "./store/replica_applier.ts";
import { ElasticoreError } from "../errors.ts";

/** Largest block a replica accepts over the wire. */
const MAX_BLOCK_WIRE = 1 << 30;

function checksumMismatch(id: string, version: number): DfsChecksumError {
  return new DfsChecksumError(id, version, -1, "the received bytes do not match the SHA-256 sent");
}

/** Registers every DFS request handler of node `ctx` on its RPC layer. */
export function serveDfs(ctx: NodeContext, primary: Primary): void {
  const rpc = ctx.rpc;
  const opLocks = new KeyedMutex();

  rpc.handleStream("dfs.block_put", async (meta, stream) => {
    const m = meta as DfsBlockPut;
    if (m.size > MAX_BLOCK_WIRE) {
      throw sizeMismatch(`block ${m.id} of ${m.size} bytes is too large`);
    }
    const bytes = await readAll(stream.readable, m.size, `block ${m.id}`);
    if (bytes.byteLength !== m.size) {
      throw sizeMismatch(`block ${m.id}: got ${bytes.byteLength} of ${m.size} bytes`);
    }
    if (sha256Hex(bytes) !== m.sha256) throw checksumMismatch(m.id, m.version);
    // The received buffer is this handler's own (readAll, FrameReader): handed over, verified.
    await ctx.store.putBlock(m.id, m.version, bytes, m.key, { sha256: m.sha256 });
    return { stored: true };
  });

  rpc.handleStream("dfs.block_get", async (meta, stream) => {
    const m = meta as DfsBlockGet;
    const range = m.offset === 0 && m.length === undefined
      ? undefined
      : { offset: m.offset, length: m.length };
    const bytes = await ctx.store.getBlock(m.id, m.version, range);
    await writeAll(stream.writable, bytes);
    return { size: bytes.byteLength };
  });

  rpc.handle("dfs.block_del", async (body) => {
    let deleted = 0;
    for (const id of (body as DfsBlockDel).ids) if (await ctx.store.deleteBlock(id)) deleted++;
    return { deleted };
  });

  rpc.handle("dfs.meta_get", async (body) => {
    return { record: await ctx.localMeta((body as { path: string }).path) };
  });

  rpc.handle("dfs.meta_put", async (body) => {
    return { stored: await ctx.storeMeta((body as { record: FileMeta }).record) };
  });

  rpc.handle("dfs.meta_op", (body) => {
    const { path, op } = body as DfsMetaOp;
    return opLocks.run(path, async () => {
      const rec = await ctx.localMeta(path);
      if (!rec || isTombstone(rec)) return { applied: false, need: true, appendSeq: 0 };
      const applier = new ReplicaApplier(rec);
      let res;
      try {
        res = applier.deliver(op);
      } catch {
        // The op applies to another history than this replica's (a second primary, a stale
        // one, or this replica holds an unconfirmed tail): the primary then sends its whole
        // record, which the store takes only if it wins by the reconcile rule
        // (`meta_order.ts`); otherwise the primary sees a conflict and must reload.
        return { applied: false, need: true, appendSeq: rec.appendSeq };
      }
      if (res.status === "duplicate") {
        return { applied: false, need: false, appendSeq: rec.appendSeq };
      }
      if (res.status === "buffered" || res.rejected) {
        return { applied: false, need: true, appendSeq: rec.appendSeq };
      }
      if (!await ctx.storeMeta(applier.record)) {
        return { applied: false, need: true, appendSeq: rec.appendSeq };
      }
      return { applied: true, need: false, appendSeq: applier.appliedSeq };
    });
  });

  rpc.handle("dfs.meta_mark", (body) => {
    const m = body as DfsMetaMark;
    const mark = { version: m.version, appendSeq: m.appendSeq };
    return opLocks.run(m.path, async () => ({ marked: await ctx.markMeta(m.path, mark, m.head) }));
  });

  rpc.handle("dfs.meta_list", (body) => {
    const { prefix, limit } = body as { prefix: string; limit: number };
    return { files: ctx.metas.list(prefix, Math.min(limit, 100_000)) };
  });

  rpc.handle("dfs.meta_range", (body) => {
    const { start, end } = body as { start: string; end: string };
    return { files: ctx.metas.inRange(ringIdFromHex(start), ringIdFromHex(end)) };
  });

  rpc.handle("dfs.digest", (body) => {
    const d = body as DfsDigest;
    if (d.buckets < 1 || d.buckets > 65536) {
      throw new ElasticoreError("dfs_bad_request", "digest buckets must be in [1, 65536]");
    }
    return ctx.store.digest(d.start, d.end, { buckets: d.buckets, detail: d.detail });
  });

  rpc.handle("dfs.commit", (body) => primary.commit(body as DfsCommit));

  rpc.handleStream("dfs.append", async (meta, stream) => {
    const m = meta as DfsAppend;
    const bytes = await readAll(stream.readable, MAX_APPEND_BYTES, `append to ${m.path}`);
    return await primary.append(m.path, bytes, m.nowMs, m.expectSize);
  });

  rpc.handle("dfs.append_bytes", (body) => {
    const m = body as DfsAppendBytes;
    return primary.append(m.path, m.data, m.nowMs, m.expectSize);
  });

  rpc.handle("dfs.remove", (body) => {
    const { path, nowMs } = body as { path: string; nowMs: number };
    return primary.remove(path, nowMs);
  });

  rpc.handle("dfs.merge", (body) => {
    const { path, nowMs } = body as { path: string; nowMs: number };
    return primary.merge(path, nowMs);
  });
}
