/**
 * Block I/O of a DFS node: moving blocks between replicas over bulk streams, storing a block
 * on its replica set with the write rule below, reading a block from any good replica, and
 * deleting blocks wherever they are placed.
 *
 * Write rule (W = RF): a block is acknowledged only once RF nodes have stored it durably
 * (each replica answers after its Deno KV commit). The nodes are the block key's RF live
 * successors on the ring; when one of them does not answer, it is suspected and the next
 * live successor takes its place, so the block still ends up on RF live nodes. With fewer
 * than RF live nodes the write fails with `dfs_unavailable` (nothing is acknowledged).
 *
 * Read rule: replicas are tried nearest first (this node first if it holds a copy); a
 * missing block, a checksum failure (in the replica's store, or end to end against the
 * SHA-256 in the file metadata) or an unreachable replica moves on to the next one, and the
 * bad copies are rewritten from the good one in the background (read repair).
 *
 * @module
 */
import type { DfsBlockGet, DfsBlockPut } from "../../proto/dfs.ts";
import type { BlockRef } from "./file_meta.ts";
import type { NodeContext } from "./node_context.ts";
import { codeOf, isUnreachable, sizeMismatch, unavailable } from "./node_errors.ts";
import { type RingId, ringIdFromHex, ringIdToHex } from "./ring/id.ts";
import { sha256Hex } from "./store/checksum.ts";
import type { ByteRange } from "./store/kv_blocks.ts";

/** Bytes written to a bulk stream per write call. */
const WRITE_PIECE = 256 * 1024;
/** Deadline of one block transfer. */
const TRANSFER_DEADLINE_MS = 120_000;

/** Reads a whole byte stream into one array; fails if it carries more than `max` bytes. */
export async function readAll(
  readable: ReadableStream<Uint8Array>,
  max: number,
  what = "stream",
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of readable) {
    n += chunk.byteLength;
    if (n > max) throw sizeMismatch(`${what} carries more than ${max} bytes`);
    parts.push(chunk);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Writes `bytes` to a stream in pieces and closes it. */
export async function writeAll(w: WritableStream<Uint8Array>, bytes: Uint8Array): Promise<void> {
  const writer = w.getWriter();
  try {
    for (let at = 0; at < bytes.byteLength; at += WRITE_PIECE) {
      await writer.write(bytes.subarray(at, Math.min(bytes.byteLength, at + WRITE_PIECE)));
    }
    await writer.close();
  } finally {
    writer.releaseLock();
  }
}

/** The placement key of a block id (its first 16 hex digits; see `blockIdFor`). */
export function keyOfBlock(id: string): RingId {
  return ringIdFromHex(id.slice(0, 16));
}

/** A block to store: where it goes and what it is. */
export interface BlockWrite {
  /** Block id (`<key>.<fileId>.<blockNo>`). */
  id: string;
  /** Version to store it with. */
  version: number;
  /** Content. */
  bytes: Uint8Array;
  /** SHA-256 of the content (computed when absent). */
  sha256?: string;
  /**
   * The writer gives `bytes` away (nobody writes to them again): the local replica keeps the
   * array as its hot copy and trusts `sha256` instead of copying and hashing it again.
   */
  handOver?: boolean;
}

/** Block transfer, replicated writes, reads with fallback and deletion. */
export class BlockIo {
  readonly #ctx: NodeContext;

  /** Creates the block I/O of the node `ctx`. */
  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  /**
   * Stores one copy of a block on `peer` (this node: the local store) durably, within
   * `deadlineMs` (default 120 s). With `handOver` (see {@link BlockWrite}) the local store
   * keeps `bytes` and trusts `meta.sha256`.
   */
  async push(
    peer: string,
    meta: DfsBlockPut,
    bytes: Uint8Array,
    deadlineMs = TRANSFER_DEADLINE_MS,
    handOver = false,
  ): Promise<void> {
    const ctx = this.#ctx;
    if (peer === ctx.self) {
      const given = handOver ? { sha256: meta.sha256 } : undefined;
      await ctx.store.putBlock(meta.id, meta.version, bytes, meta.key, given);
      return;
    }
    const s = await ctx.rpc.openStream(peer, "dfs.block_put", meta, { deadlineMs });
    let writeErr: unknown = null;
    try {
      await writeAll(s.writable, bytes);
    } catch (e) {
      writeErr = e;
    }
    await s.result; // the receiver's own error explains a failed write best
    if (writeErr) throw writeErr;
  }

  /**
   * Reads (a range of) block `id` at `version` from `peer` (or the local store), within
   * `deadlineMs` (default 120 s).
   */
  async fetch(
    peer: string,
    id: string,
    version: number,
    range?: ByteRange,
    deadlineMs = TRANSFER_DEADLINE_MS,
  ): Promise<Uint8Array> {
    const ctx = this.#ctx;
    if (peer === ctx.self) return await ctx.store.getBlock(id, version, range);
    const req: DfsBlockGet = { id, version, offset: range?.offset ?? 0 };
    if (range?.length !== undefined) req.length = range.length;
    const s = await ctx.rpc.openStream(peer, "dfs.block_get", req, { deadlineMs });
    await s.writable.close().catch(() => {});
    let bytes: Uint8Array | null = null;
    let readErr: unknown = null;
    try {
      bytes = await readAll(s.readable, 1 << 30, `block ${id}`);
    } catch (e) {
      readErr = e;
    }
    const reply = await s.result as { size: number };
    if (readErr || bytes === null) throw readErr;
    if (bytes.byteLength !== reply.size) {
      throw sizeMismatch(
        `block ${id} from ${peer}: got ${bytes.byteLength} of ${reply.size} bytes`,
      );
    }
    return bytes;
  }

  /**
   * Stores a block on RF live replicas of its key (see the write rule in the module
   * documentation); resolves with the nodes holding it.
   */
  async store(w: BlockWrite): Promise<string[]> {
    const ctx = this.#ctx;
    const started = performance.now();
    const key = keyOfBlock(w.id);
    const cands = await ctx.locate(key, 2);
    const meta: DfsBlockPut = {
      id: w.id,
      version: w.version,
      key: ringIdToHex(key),
      size: w.bytes.byteLength,
      sha256: w.sha256 ?? sha256Hex(w.bytes),
    };
    const holders: string[] = [];
    const failed: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cands.length) {
        const peer = cands[next++];
        try {
          await this.push(peer, meta, w.bytes, TRANSFER_DEADLINE_MS, w.handOver);
          holders.push(peer);
          return;
        } catch (e) {
          if (!isUnreachable(e)) throw e;
          ctx.suspect(peer);
          failed.push(peer);
        }
      }
    };
    // Every push settles before this resolves or rejects: a caller that deletes the blocks of
    // a failed write must not race a copy still on its way (it would be left behind).
    const settled = await Promise.allSettled(Array.from({ length: ctx.rf }, worker));
    const refused = settled.find((r) => r.status === "rejected");
    if (refused) throw refused.reason;
    if (holders.length < ctx.rf) {
      throw unavailable(
        `block ${w.id} reached ${holders.length} of ${ctx.rf} replicas` +
          (failed.length ? ` (${failed.join(", ")} did not answer)` : ""),
      );
    }
    ctx.metrics.replicationSeconds.observe((performance.now() - started) / 1000);
    return holders;
  }

  /**
   * Reads (a range of) a block from the first good replica; whole-block reads are checked
   * against the SHA-256 of the metadata. Bad copies are repaired in the background.
   */
  async read(ref: BlockRef, range?: ByteRange): Promise<Uint8Array> {
    const ctx = this.#ctx;
    const cands = await ctx.locate(keyOfBlock(ref.id), 2);
    const replicas = new Set(cands.slice(0, ctx.rf));
    const order = replicas.has(ctx.self)
      ? [ctx.self, ...cands.filter((c) => c !== ctx.self)]
      : cands;
    const whole = range === undefined || (range.offset === 0 && range.length === ref.size);
    const bad: string[] = [];
    const tried: string[] = [];
    for (const peer of order) {
      tried.push(peer);
      let bytes: Uint8Array | null;
      // A whole block from this node's store is checked against the metadata's SHA-256 by
      // the store, which hashes only what it has not verified yet (see getVerifiedBlock).
      const local = whole && peer === ctx.self;
      try {
        bytes = local
          ? await ctx.store.getVerifiedBlock(ref.id, ref.version, ref.checksum)
          : await this.fetch(peer, ref.id, ref.version, whole ? undefined : range);
      } catch (e) {
        const code = codeOf(e);
        if (isUnreachable(e)) ctx.suspect(peer);
        else if (
          replicas.has(peer) && (code === "dfs_block_not_found" || code === "dfs_checksum")
        ) bad.push(peer);
        ctx.metrics.fallbacks.inc({ reason: isUnreachable(e) ? "unreachable" : code });
        continue;
      }
      if (
        bytes === null ||
        (whole && (bytes.byteLength !== ref.size || (!local && sha256Hex(bytes) !== ref.checksum)))
      ) {
        if (replicas.has(peer)) bad.push(peer);
        ctx.metrics.fallbacks.inc({ reason: "sha256" });
        continue;
      }
      if (bad.length > 0) this.#repair(ref, bad, peer, whole ? bytes : null);
      return bytes;
    }
    throw unavailable(`no replica of block ${ref.id} could be read (tried ${tried.join(", ")})`);
  }

  /** Rewrites the bad copies of `ref` from `good` (its whole content if already read). */
  #repair(ref: BlockRef, bad: string[], good: string, content: Uint8Array | null): void {
    const ctx = this.#ctx;
    (async () => {
      const bytes = content ?? await this.fetch(good, ref.id, ref.version);
      if (sha256Hex(bytes) !== ref.checksum) return;
      const meta: DfsBlockPut = {
        id: ref.id,
        version: ref.version,
        key: ref.id.slice(0, 16),
        size: bytes.byteLength,
        sha256: ref.checksum,
      };
      for (const peer of bad) {
        await this.push(peer, meta, bytes);
        ctx.metrics.repairs.inc({ kind: "block", why: "read" });
      }
    })().catch((e) => {
      ctx.log.warn("read repair of {block} failed: {error}", { block: ref.id, error: String(e) });
    });
  }

  /** Deletes blocks from every node their keys place them on (best effort). */
  async delete(ids: readonly string[]): Promise<void> {
    const ctx = this.#ctx;
    const byPeer = new Map<string, string[]>();
    for (const id of ids) {
      for (const peer of await ctx.locate(keyOfBlock(id), 2)) {
        let l = byPeer.get(peer);
        if (!l) byPeer.set(peer, l = []);
        l.push(id);
      }
    }
    await Promise.all([...byPeer].map(async ([peer, list]) => {
      try {
        if (peer === ctx.self) {
          for (const id of list) await ctx.store.deleteBlock(id);
        } else {
          for (let i = 0; i < list.length; i += 4096) {
            await ctx.call(peer, "dfs.block_del", { ids: list.slice(i, i + 4096) });
          }
        }
      } catch (e) {
        ctx.log.warn("deleting {n} blocks on {peer} failed: {error}", {
          n: list.length,
          peer,
          error: String(e),
        });
      }
    }));
  }
}
