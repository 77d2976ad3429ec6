/**
 * A byte-bounded LRU cache of block contents keyed by (blockId, version).
 *
 * It holds at most one version per block id. A lookup for version `v` hits only an entry of
 * exactly version `v`, so a read for `v` never returns `v - 1` data; finding an older version
 * drops it (version invalidation). Every operation is O(1): a `Map` finds an entry by id and
 * an intrusive doubly-linked list keeps the recency order (a hit moves the entry to the most
 * recent end; eviction takes the least recent end). A `Map`'s own insertion order is not used
 * for eviction because iterating from its front skips deleted slots, which is not O(1).
 *
 * The byte bound counts content bytes. An entry larger than the whole bound is not cached.
 *
 * An entry may carry the SHA-256 its content was verified against when it entered the cache
 * (or later, see {@link LruCache.markVerified}); the owner then need not hash it again on a
 * hit. Entries are never mutated, so the mark stays true for the entry's lifetime.
 *
 * @module
 */
import type { Counter, MetricsRegistry } from "../../metrics.ts";

/** Counters of a cache. */
export interface CacheStats {
  /** Lookups that found the requested (id, version). */
  hits: number;
  /** Lookups that did not. */
  misses: number;
  /** Entries removed to respect the byte bound. */
  evictions: number;
  /** Entries dropped because a newer version was seen or the block was deleted. */
  invalidations: number;
  /** Content bytes held. */
  bytes: number;
  /** Entries held. */
  entries: number;
}

/** Options of {@link LruCache}. */
export interface LruCacheOptions {
  /** Maximum content bytes held. */
  maxBytes: number;
  /** Registry for `elasticore_dfs_cache_*` metrics (label `cache` = {@link LruCacheOptions.name}). */
  metrics?: MetricsRegistry;
  /** Name of this cache in metric labels (default `"read"`). */
  name?: string;
}

/** A cached block as seen by a lookup: its content and, if known, its verified SHA-256. */
export interface CachedBlock {
  /** The content (owned by the cache: never mutate it). */
  readonly bytes: Uint8Array;
  /** Lowercase hex SHA-256 the content was verified against, if it was. */
  readonly sha256: string | undefined;
}

interface Entry {
  id: string;
  version: number;
  bytes: Uint8Array;
  sha256: string | undefined;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * The LRU cache. Stored arrays are owned by the cache: callers must not mutate an array
 * after passing it to {@link LruCache.set}, nor one returned by {@link LruCache.get}.
 */
export class LruCache {
  readonly #map = new Map<string, Entry>();
  /** Least recently used end of the list. */
  #head: Entry | null = null;
  /** Most recently used end of the list. */
  #tail: Entry | null = null;
  #maxBytes: number;
  #bytes = 0;
  readonly #stats = { hits: 0, misses: 0, evictions: 0, invalidations: 0 };
  readonly #labels: { cache: string };
  readonly #m?: { hits: Counter; misses: Counter; evictions: Counter; invalidations: Counter };
  #gauge: () => void = () => {};

  /** Creates an empty cache bounded by `opts.maxBytes`. */
  constructor(opts: LruCacheOptions) {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 0) {
      throw new RangeError(`cache maxBytes must be a non-negative integer, got ${opts.maxBytes}`);
    }
    this.#maxBytes = opts.maxBytes;
    this.#labels = { cache: opts.name ?? "read" };
    const r = opts.metrics;
    if (r) {
      this.#m = {
        hits: r.counter("elasticore_dfs_cache_hits_total", "DFS block cache hits"),
        misses: r.counter("elasticore_dfs_cache_misses_total", "DFS block cache misses"),
        evictions: r.counter("elasticore_dfs_cache_evictions_total", "DFS block cache evictions"),
        invalidations: r.counter(
          "elasticore_dfs_cache_invalidations_total",
          "DFS block cache entries dropped for a newer version or a delete",
        ),
      };
      const gauge = r.gauge("elasticore_dfs_cache_bytes", "DFS block cache content bytes");
      gauge.set(0, this.#labels);
      this.#gauge = () => gauge.set(this.#bytes, this.#labels);
    }
  }

  /** Maximum content bytes. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Content bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** A snapshot of the counters. */
  stats(): CacheStats {
    return { ...this.#stats, bytes: this.#bytes, entries: this.#map.size };
  }

  /** The content of `(id, version)`, marking it most recently used; undefined on a miss. */
  get(id: string, version: number): Uint8Array | undefined {
    return this.lookup(id, version)?.bytes;
  }

  /**
   * The entry of `(id, version)` (content and verified SHA-256), marking it most recently
   * used; undefined on a miss. Counts as {@link LruCache.get} does.
   */
  lookup(id: string, version: number): CachedBlock | undefined {
    const e = this.#map.get(id);
    if (e && e.version === version) {
      this.#unlink(e);
      this.#append(e);
      this.#stats.hits++;
      this.#m?.hits.inc(this.#labels);
      return e;
    }
    if (e && e.version < version) this.#drop(id, e);
    this.#stats.misses++;
    this.#m?.misses.inc(this.#labels);
    return undefined;
  }

  /** True if `(id, version)` is cached; does not change recency or counters. */
  has(id: string, version: number): boolean {
    return this.#map.get(id)?.version === version;
  }

  /** The cached version of `id`, if any; does not change recency or counters. */
  versionOf(id: string): number | undefined {
    return this.#map.get(id)?.version;
  }

  /** The SHA-256 the cached copy of `(id, version)` was verified against, if any. */
  verifiedSha256(id: string, version: number): string | undefined {
    const e = this.#map.get(id);
    return e?.version === version ? e.sha256 : undefined;
  }

  /**
   * Records that the cached content of `(id, version)` was hashed to `sha256` (no effect
   * when that entry is not cached). Only for a hash computed from the cached array itself.
   */
  markVerified(id: string, version: number, sha256: string): void {
    const e = this.#map.get(id);
    if (e?.version === version) e.sha256 = sha256;
  }

  /**
   * Caches `bytes` as `(id, version)`, replacing any other version of `id` unless the cached
   * one is newer (an older version is never cached over a newer one). Evicts least recently
   * used entries to stay within the bound. Returns false if the entry was not cached.
   * `sha256`: the SHA-256 `bytes` were verified against (computed from these very bytes).
   */
  set(id: string, version: number, bytes: Uint8Array, sha256?: string): boolean {
    const old = this.#map.get(id);
    if (old && old.version > version) return false;
    if (old) this.#drop(id, old, old.version !== version);
    if (bytes.length > this.#maxBytes) return false;
    const e: Entry = { id, version, bytes, sha256, prev: null, next: null };
    this.#map.set(id, e);
    this.#append(e);
    this.#bytes += bytes.length;
    this.#evictTo(this.#maxBytes);
    this.#gauge();
    return true;
  }

  /** Drops every version of `id` (after a delete or when a newer version is stored). */
  invalidate(id: string): void {
    const e = this.#map.get(id);
    if (e) this.#drop(id, e);
  }

  /** Changes the byte bound, evicting as needed. */
  resize(maxBytes: number): void {
    this.#maxBytes = Math.max(0, maxBytes);
    this.#evictTo(this.#maxBytes);
    this.#gauge();
  }

  /** Drops every entry (not counted as evictions). */
  clear(): void {
    this.#map.clear();
    this.#head = this.#tail = null;
    this.#bytes = 0;
    this.#gauge();
  }

  #append(e: Entry): void {
    e.prev = this.#tail;
    e.next = null;
    if (this.#tail) this.#tail.next = e;
    else this.#head = e;
    this.#tail = e;
  }

  #unlink(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.#head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.#tail = e.prev;
    e.prev = e.next = null;
  }

  #drop(id: string, e: Entry, counted = true): void {
    this.#map.delete(id);
    this.#unlink(e);
    this.#bytes -= e.bytes.length;
    if (counted) {
      this.#stats.invalidations++;
      this.#m?.invalidations.inc(this.#labels);
    }
    this.#gauge();
  }

  #evictTo(limit: number): void {
    while (this.#bytes > limit && this.#head) {
      const e = this.#head;
      this.#unlink(e);
      this.#map.delete(e.id);
      this.#bytes -= e.bytes.length;
      this.#stats.evictions++;
      this.#m?.evictions.inc(this.#labels);
    }
  }
}
