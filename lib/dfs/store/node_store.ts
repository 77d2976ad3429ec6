/**
 * The storage facade of one DFS node: the blocks and metadata records the node holds.
 *
 * Reads go LRU read cache → memory tier → disk tier (Deno KV, checksums verified). Writes
 * reserve write-buffer space in the memory tier (backpressure), go to the disk tier and are
 * acknowledged only once its commit is durable; then the memory tier keeps a copy. A per-node
 * quota (`dfs.quota_bytes`, 0 = none) refuses a write that would exceed it with
 * `dfs_quota_exceeded` before anything is written.
 *
 * An in-memory index of block headers (built when the store opens) answers `hasBlock`,
 * quota accounting and anti-entropy digests without touching the disk.
 *
 * @module
 */
import type { Counter, Histogram, MetricsRegistry } from "../../metrics.ts";
import { decodeMeta, encodeMeta, type FileMeta } from "../file_meta.ts";
import { recordIdentity } from "../meta_head.ts";
import {
  compareOrder,
  compareRecords,
  confirmedOf,
  maxOrder,
  type MetaOrder,
  type Ordered,
} from "../meta_order.ts";
import { metadataKey, ringIdToHex } from "../ring/id.ts";
import { buildDigest, type DigestOptions, type RangeDigest } from "./digest.ts";
import {
  badRequest,
  blockDeleted,
  blockNotFound,
  type DfsChecksumError,
  quotaExceeded,
  staleVersion,
} from "./errors.ts";
import { KeyedMutex } from "./keyed_mutex.ts";
import { ElasticoreError } from "../../errors.ts";
import {
  type ByteRange,
  KvBlockStore,
  type KvBlockStoreOptions,
  type StoredBlockInfo,
} from "./kv_blocks.ts";
import { type CachedBlock, type CacheStats, LruCache } from "./lru_cache.ts";
import { sha256Hex } from "./checksum.ts";
import { MemoryTier } from "./memory_tier.ts";

/** How many deleted block ids a store remembers (about 100 bytes each). */
export const DELETED_REMEMBERED = 100_000;

/** Options of {@link NodeStore.open}. */
export interface NodeStoreOptions {
  /** Path of the Deno KV database file. */
  path: string;
  /** Bytes of blocks and metadata this node may hold; 0 means no quota (default 0). */
  quotaBytes?: number;
  /** Memory tier bound, `dfs.memory_tier_bytes` (default 256 MiB). */
  memoryTierBytes?: number;
  /** Read cache bound, `dfs.cache_bytes` (default 256 MiB). */
  cacheBytes?: number;
  /** Registry for the `elasticore_dfs_*` metrics. */
  metrics?: MetricsRegistry;
  /** Called when a read finds a corrupt block (for repair). */
  onCorrupt?: (err: DfsChecksumError) => void;
  /** Tuning of the disk tier (namespace excluded). */
  disk?: Omit<KvBlockStoreOptions, "namespace" | "onCorrupt">;
}

/** Counters and sizes of a node store. */
export interface NodeStoreStats {
  /** Bytes of blocks and metadata records stored. */
  usedBytes: number;
  /** The quota, 0 for none. */
  quotaBytes: number;
  /** Blocks stored. */
  blocks: number;
  /** Metadata records stored. */
  metas: number;
  /** Read cache counters. */
  cache: CacheStats;
  /** Memory tier counters. */
  memory: CacheStats;
}

interface StoreMetrics {
  writes: Counter;
  writeBytes: Counter;
  reads: Counter;
  readBytes: Counter;
  corrupt: Counter;
  quota: Counter;
  writeSeconds: Histogram;
}

/** A copy of `bytes` (allocate and set: about 3x faster than `slice()` for large arrays). */
function copy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function sliceRange(bytes: Uint8Array, id: string, range?: ByteRange): Uint8Array {
  if (!range) return copy(bytes);
  const { offset } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > bytes.length) {
    throw badRequest(`range offset ${offset} is outside block ${id} of ${bytes.length} bytes`);
  }
  if (range.length !== undefined && (!Number.isSafeInteger(range.length) || range.length < 0)) {
    throw badRequest(`range length must be a non-negative integer`);
  }
  const end = range.length === undefined
    ? bytes.length
    : Math.min(bytes.length, offset + range.length);
  return copy(bytes.subarray(offset, end));
}

/** What `putMeta` compares a new record with: the stored record's order, mark and identity. */
interface StoredOrder extends Ordered {
  id: string;
}

function orderOf(rec: FileMeta | null): StoredOrder | null {
  return rec && {
    version: rec.version,
    appendSeq: rec.appendSeq,
    confirmed: confirmedOf(rec),
    id: recordIdentity(rec),
  };
}

/**
 * Whether `rec` replaces a different record `stored` of the same `(version, appendSeq)`: if
 * its history is confirmed further (the stored one is an unacknowledged tail), or if neither
 * is confirmed through its own order (neither was acknowledged) and `rec` wins the head
 * tie-break every node applies (`newest` in `node_meta.ts`). A record acknowledged at that
 * order (confirmed through it) is never replaced by another one of the same order.
 */
export function replacesAtSameOrder(
  rec: FileMeta,
  stored: { version: number; appendSeq: number; confirmed?: MetaOrder; id: string },
): boolean {
  const storedConfirmed = confirmedOf(stored);
  const c = compareOrder(confirmedOf(rec), storedConfirmed);
  if (c !== 0) return c > 0;
  const own = { version: rec.version, appendSeq: rec.appendSeq };
  const unacked = compareOrder(storedConfirmed, own) < 0;
  return unacked && recordIdentity(rec) > stored.id;
}

/** Blocks and metadata records of one node, with the memory tier and read cache in front. */
export class NodeStore {
  readonly #kv: Deno.Kv;
  readonly #blocks: KvBlockStore;
  readonly #metas: KvBlockStore;
  readonly #index = new Map<string, StoredBlockInfo>();
  /** Ids of blocks deleted here, oldest first (at most {@link DELETED_REMEMBERED}). */
  readonly #deleted = new Set<string>();
  readonly #metaSizes = new Map<string, number>();
  readonly #metaOrder = new Map<string, StoredOrder>();
  readonly #cache: LruCache;
  readonly #tier: MemoryTier;
  readonly #metaLocks = new KeyedMutex();
  readonly #quota: number;
  readonly #m?: StoreMetrics;
  #used = 0;
  #reserved = 0;
  #closed = false;

  private constructor(kv: Deno.Kv, opts: NodeStoreOptions) {
    this.#kv = kv;
    const r = opts.metrics;
    if (r) {
      this.#m = {
        writes: r.counter("elasticore_dfs_block_writes_total", "DFS blocks written durably"),
        writeBytes: r.counter("elasticore_dfs_block_write_bytes_total", "DFS block bytes written"),
        reads: r.counter("elasticore_dfs_block_reads_total", "DFS block reads by source"),
        readBytes: r.counter("elasticore_dfs_block_read_bytes_total", "DFS block bytes read"),
        corrupt: r.counter("elasticore_dfs_checksum_errors_total", "DFS checksum failures"),
        quota: r.counter("elasticore_dfs_quota_rejections_total", "DFS writes refused by quota"),
        writeSeconds: r.histogram("elasticore_dfs_block_write_seconds", "DFS block write time"),
      };
      r.gauge("elasticore_dfs_stored_bytes", "DFS bytes stored on this node", () => [
        [undefined, this.#used],
      ]);
      r.gauge("elasticore_dfs_stored_blocks", "DFS blocks stored on this node", () => [
        [undefined, this.#index.size],
      ]);
    }
    const onCorrupt = (err: DfsChecksumError) => {
      this.#m?.corrupt.inc();
      this.#cache.invalidate(err.blockId);
      opts.onCorrupt?.(err);
    };
    this.#blocks = new KvBlockStore(kv, { ...opts.disk, namespace: "b", onCorrupt });
    this.#metas = new KvBlockStore(kv, { ...opts.disk, namespace: "m", onCorrupt });
    this.#quota = opts.quotaBytes ?? 0;
    this.#cache = new LruCache({ maxBytes: opts.cacheBytes ?? 256 << 20, metrics: r });
    this.#tier = new MemoryTier({ maxBytes: opts.memoryTierBytes ?? 256 << 20, metrics: r });
  }

  /**
   * Opens (creating if needed) the store at `opts.path`: finishes writes interrupted by a
   * crash and loads the block index.
   */
  static async open(opts: NodeStoreOptions): Promise<NodeStore> {
    const kv = await Deno.openKv(opts.path);
    try {
      const store = new NodeStore(kv, opts);
      await store.#load();
      return store;
    } catch (e) {
      kv.close();
      throw e;
    }
  }

  async #load(): Promise<void> {
    await this.#blocks.recover();
    await this.#metas.recover();
    for await (const info of this.#blocks.list()) {
      this.#index.set(info.id, info);
      this.#used += info.size;
    }
    for await (const info of this.#metas.list()) {
      this.#metaSizes.set(info.id, info.size);
      this.#used += info.size;
    }
  }

  /** Closes the Deno KV handle; the store is unusable afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kv.close();
  }

  /** Counters and sizes. */
  stats(): NodeStoreStats {
    return {
      usedBytes: this.#used,
      quotaBytes: this.#quota,
      blocks: this.#index.size,
      metas: this.#metaSizes.size,
      cache: this.#cache.stats(),
      memory: this.#tier.stats(),
    };
  }

  /** Blocks found corrupt by reads and not yet rewritten, with the corrupt version. */
  corruptBlocks(): Map<string, number> {
    return this.#blocks.corruptBlocks();
  }

  #checkQuota(bytes: number, replaced: number): void {
    if (this.#quota === 0) return;
    const projected = this.#used + this.#reserved + bytes - replaced;
    if (projected > this.#quota) {
      this.#m?.quota.inc();
      throw quotaExceeded(bytes, this.#used + this.#reserved, this.#quota);
    }
  }

  /**
   * Stores version `version` of block `id` and resolves once it is durable. `key` is the
   * block's placement key (16 hex digits; default: derived from the id, see
   * `placementKeyOf`). Refused with `dfs_quota_exceeded` (nothing written),
   * `dfs_stale_version` or `dfs_version_conflict`.
   *
   * With `handOver`, the caller gives `bytes` to the store (it never touches the array again)
   * together with the SHA-256 it verified them against: the store keeps that array as its hot
   * copy and trusts that SHA-256, instead of copying and hashing 4 MiB again. A replica
   * receiving a block over the network does so (the received buffer is its own).
   */
  async putBlock(
    id: string,
    version: number,
    bytes: Uint8Array,
    key?: string,
    handOver?: { sha256: string },
  ): Promise<StoredBlockInfo> {
    if (this.#deleted.has(id)) throw blockDeleted(id);
    const old = this.#index.get(id);
    if (old && old.version > version) throw staleVersion(`block ${id}`, version, old.version);
    this.#checkQuota(bytes.length, old?.size ?? 0);
    this.#reserved += bytes.length;
    const started = performance.now();
    let ticket;
    try {
      ticket = await this.#tier.admit(bytes.length);
      // The hot copy is taken before the write and is what gets written and hashed, so the
      // SHA-256 in the header is the SHA-256 of the hot copy whatever the caller does later.
      // A handed-over array is the hot copy itself, unless it is a view into a larger buffer
      // (kept, it would pin the rest).
      const hot = bytes.length <= this.#tier.maxBytes;
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      const own = hot && !(handOver && whole) ? copy(bytes) : bytes;
      const info = await this.#blocks.put(id, version, own, key, handOver?.sha256);
      const prev = this.#index.get(id);
      this.#used += info.size - (prev?.size ?? 0);
      this.#index.set(id, info);
      if (
        this.#cache.versionOf(id) !== version ||
        this.#cache.verifiedSha256(id, version) !== info.sha256
      ) this.#cache.invalidate(id);
      ticket.release(); // the buffered bytes become the hot copy
      if (hot) this.#tier.keep(id, version, own, info.sha256);
      this.#m?.writes.inc();
      this.#m?.writeBytes.inc(undefined, bytes.length);
      this.#m?.writeSeconds.observe((performance.now() - started) / 1000);
      return info;
    } finally {
      ticket?.release();
      this.#reserved -= bytes.length;
    }
  }

  /**
   * Reads block `id` at exactly `version`, whole or a byte range. Throws
   * `dfs_block_not_found` if this node does not hold that version, `dfs_checksum` if its copy
   * is corrupt. The returned array belongs to the caller.
   */
  async getBlock(id: string, version: number, range?: ByteRange): Promise<Uint8Array> {
    const cached = this.#cache.get(id, version);
    if (cached) return this.#served("cache", sliceRange(cached, id, range));
    const hot = this.#tier.get(id, version);
    if (hot) return this.#served("memory", sliceRange(hot, id, range));
    const res = await this.#blocks.read(id, version, range);
    if (!res) throw blockNotFound(id, version);
    if (!range) this.#cache.set(id, version, copy(res.bytes));
    return this.#served("disk", res.bytes);
  }

  /**
   * Reads the whole block `id` at `version` and checks that its content has SHA-256
   * `sha256` (the checksum in the file metadata); null if this node's copy has other content.
   * A disk read is verified (every chunk CRC and the whole-block CRC in the disk tier, then
   * the SHA-256 here) and only a copy that passed enters the read cache, marked with the
   * SHA-256 it was verified against; so a hit on the cache or the memory tier (whose copies
   * are the bytes hashed when they were written) compares strings instead of hashing again.
   * Throws as {@link NodeStore.getBlock}. The returned array belongs to the caller.
   */
  async getVerifiedBlock(id: string, version: number, sha256: string): Promise<Uint8Array | null> {
    const cached = this.#cache.lookup(id, version);
    if (cached) {
      const ok = this.#verified(
        cached,
        sha256,
        () => this.#cache.markVerified(id, version, sha256),
      );
      return ok ? this.#served("cache", copy(cached.bytes)) : null;
    }
    const hot = this.#tier.lookup(id, version);
    if (hot) {
      const ok = this.#verified(hot, sha256, () => this.#tier.markVerified(id, version, sha256));
      return ok ? this.#served("memory", copy(hot.bytes)) : null;
    }
    const res = await this.#blocks.read(id, version);
    if (!res) throw blockNotFound(id, version);
    if (sha256Hex(res.bytes) !== sha256) return null;
    this.#cache.set(id, version, copy(res.bytes), sha256);
    return this.#served("disk", res.bytes);
  }

  /** True if `hit` has SHA-256 `sha256`; hashes it (once, then `mark`) if not yet known. */
  #verified(hit: CachedBlock, sha256: string, mark: () => void): boolean {
    if (hit.sha256 !== undefined) return hit.sha256 === sha256;
    if (sha256Hex(hit.bytes) !== sha256) return false;
    mark();
    return true;
  }

  #served(source: string, bytes: Uint8Array): Uint8Array {
    this.#m?.reads.inc({ source });
    this.#m?.readBytes.inc({ source }, bytes.length);
    return bytes;
  }

  /** True if this node holds block `id` (at `version`, if given). */
  hasBlock(id: string, version?: number): boolean {
    const info = this.#index.get(id);
    return info !== undefined && (version === undefined || info.version === version);
  }

  /** What this node holds of block `id`. */
  blockInfo(id: string): StoredBlockInfo | undefined {
    return this.#index.get(id);
  }

  /** Every block this node holds. */
  blocks(): IterableIterator<StoredBlockInfo> {
    return this.#index.values();
  }

  /**
   * True if block `id` was deleted here (since this process started; the most recent
   * {@link DELETED_REMEMBERED} ids).
   */
  wasDeleted(id: string): boolean {
    return this.#deleted.has(id);
  }

  /**
   * Deletes every version of block `id`; resolves true if it was stored. Block ids are never
   * reused (each names one content of one file incarnation), so the id is remembered and a
   * later copy of it is refused with `dfs_block_deleted`: a repair round that read the block
   * before it was deleted elsewhere cannot bring it back.
   */
  async deleteBlock(id: string): Promise<boolean> {
    this.#deleted.delete(id);
    this.#deleted.add(id);
    if (this.#deleted.size > DELETED_REMEMBERED) {
      this.#deleted.delete(this.#deleted.values().next().value!);
    }
    const existed = await this.#blocks.delete(id);
    const prev = this.#index.get(id);
    if (prev) this.#used -= prev.size;
    this.#index.delete(id);
    this.#cache.invalidate(id);
    this.#tier.invalidate(id);
    return existed;
  }

  /**
   * Stores the metadata record of `path` if it wins over the stored one by the reconcile rule
   * (`meta_order.ts`: how far its history is confirmed, then version, then `appendSeq`);
   * otherwise `dfs_stale_version`. A record tied with the stored one is accepted if it is the
   * same record (same history head, `meta_head.ts`), keeping the higher `confirmed` point
   * (it never drops), and refused with `dfs_meta_conflict` if it is a different one: two
   * primaries ordered different ops under one number, and neither may silently replace the
   * other.
   */
  putMeta(path: string, rec: FileMeta): Promise<FileMeta> {
    if (rec.path !== path) throw badRequest(`record path ${rec.path} does not match ${path}`);
    const bytes = encodeMeta(rec);
    decodeMeta(bytes); // validates the record before it is stored
    return this.#metaLocks.run(path, async () => {
      const head = await this.#metas.head(path);
      let put = rec;
      if (head) {
        // The order of the stored record is remembered after the first read or write.
        const stored = this.#metaOrder.get(path) ?? orderOf(await this.getMeta(path));
        if (stored && stored.version === rec.version && stored.appendSeq === rec.appendSeq) {
          if (stored.id !== recordIdentity(rec) && !replacesAtSameOrder(rec, stored)) {
            throw new ElasticoreError(
              "dfs_meta_conflict",
              `metadata of ${path}: another record is stored at version ${rec.version}, ` +
                `seq ${rec.appendSeq}`,
              { status: 409 },
            );
          }
          if (stored.id === recordIdentity(rec)) {
            put = { ...rec, confirmed: maxOrder(confirmedOf(rec), confirmedOf(stored)) };
          }
        } else if (stored && compareRecords(stored, rec) > 0) {
          throw staleVersion(`metadata of ${path}`, rec.version, stored.version);
        }
      }
      await this.#writeMeta(path, put, head?.version ?? 0, put === rec ? bytes : undefined);
      return put;
    });
  }

  /**
   * Raises the `confirmed` point of the stored record of `path` to `mark` if that record is
   * exactly the state `mark` with history head `head`; returns the stored record then, else
   * null (another state is stored, or none).
   */
  markMeta(path: string, mark: MetaOrder, head: string): Promise<FileMeta | null> {
    return this.#metaLocks.run(path, async () => {
      const kvHead = await this.#metas.head(path);
      const rec = kvHead ? await this.getMeta(path) : null;
      if (
        !rec || rec.version !== mark.version || rec.appendSeq !== mark.appendSeq ||
        recordIdentity(rec) !== head
      ) return null;
      const marked = { ...rec, confirmed: maxOrder(confirmedOf(rec), mark) };
      await this.#writeMeta(path, marked, kvHead!.version);
      return marked;
    });
  }

  async #writeMeta(
    path: string,
    rec: FileMeta,
    prevVersion: number,
    bytes = encodeMeta(rec),
  ): Promise<void> {
    const replaced = this.#metaSizes.get(path) ?? 0;
    this.#checkQuota(bytes.length, replaced);
    const info = await this.#metas.put(
      path,
      prevVersion + 1,
      bytes,
      ringIdToHex(metadataKey(path)),
    );
    this.#used += info.size - replaced;
    this.#metaSizes.set(path, info.size);
    this.#metaOrder.set(path, orderOf(rec)!);
  }

  /** The metadata record of `path`, or null. Throws `dfs_checksum` if the copy is corrupt. */
  async getMeta(path: string): Promise<FileMeta | null> {
    const res = await this.#metas.read(path);
    return res && decodeMeta(res.bytes);
  }

  /** The metadata records whose path starts with `prefix`, in path order (at most `limit`). */
  async listMeta(prefix: string, limit = 10000): Promise<FileMeta[]> {
    const out: FileMeta[] = [];
    for await (const info of this.#metas.list(prefix)) {
      if (out.length >= limit) break;
      const rec = await this.getMeta(info.id);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Deletes the metadata record of `path`; resolves true if it existed. */
  deleteMeta(path: string): Promise<boolean> {
    return this.#metaLocks.run(path, async () => {
      const existed = await this.#metas.delete(path);
      this.#used -= this.#metaSizes.get(path) ?? 0;
      this.#metaSizes.delete(path);
      this.#metaOrder.delete(path);
      return existed;
    });
  }

  /**
   * The anti-entropy digest of the blocks whose placement key is in `(start, end]` (16 hex
   * digits each; equal means the whole ring). Compare with a replica's digest of the same
   * range using `diffDigests`.
   */
  digest(start: string, end: string, opts: DigestOptions = {}): RangeDigest {
    return buildDigest(this.#index.values(), start, end, opts);
  }
}
