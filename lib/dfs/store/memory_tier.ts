/**
 * The memory tier: copies of hot blocks for fast reads, plus a bounded write buffer.
 *
 * One byte bound (`dfs.memory_tier_bytes`) covers both. A write first reserves its size in
 * the write buffer ({@link MemoryTier.admit}); while writes in flight hold more than the
 * bound, further writes wait in FIFO order (backpressure), and when too many are waiting a
 * write is refused with `dfs_overloaded`. A single write larger than the bound is admitted
 * alone, when nothing else is in flight, so it cannot wait forever.
 *
 * The memory tier is never the only copy of acknowledged data: the node store writes a block
 * to the disk tier (durable) before acknowledging it, and only then keeps a copy here
 * ({@link MemoryTier.keep}). Hot copies are evicted in LRU order, and first of all whenever
 * the write buffer needs room.
 *
 * @module
 */
import type { MetricsRegistry } from "../../metrics.ts";
import { overloaded } from "./errors.ts";
import { type CachedBlock, type CacheStats, LruCache } from "./lru_cache.ts";

/** Options of {@link MemoryTier}. */
export interface MemoryTierOptions {
  /** Bound on hot copies plus buffered writes, in bytes. */
  maxBytes: number;
  /** Writes allowed to wait for buffer space before new ones are refused (default 1024). */
  maxWaiting?: number;
  /** Registry for metrics (cache metrics with label `cache="memory"`, write-buffer gauges). */
  metrics?: MetricsRegistry;
}

/** A reservation of write-buffer bytes; release it when the write finished or failed. */
export interface WriteTicket {
  /** Bytes reserved. */
  readonly bytes: number;
  /** Returns the bytes to the buffer (idempotent). */
  release(): void;
}

interface Waiter {
  bytes: number;
  resolve: (t: WriteTicket) => void;
}

/** Hot block copies and the write buffer, under one byte bound. */
export class MemoryTier {
  readonly #max: number;
  readonly #maxWaiting: number;
  readonly #hot: LruCache;
  readonly #waiters: Waiter[] = [];
  #inFlight = 0;
  #inFlightBytes = 0;

  /** Creates an empty tier. */
  constructor(opts: MemoryTierOptions) {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 0) {
      throw new RangeError(`memory tier maxBytes must be a non-negative integer`);
    }
    this.#max = opts.maxBytes;
    this.#maxWaiting = opts.maxWaiting ?? 1024;
    this.#hot = new LruCache({ maxBytes: opts.maxBytes, metrics: opts.metrics, name: "memory" });
    const r = opts.metrics;
    if (r) {
      r.gauge(
        "elasticore_dfs_write_buffer_bytes",
        "DFS write-buffer bytes reserved by writes in flight",
        () => [[undefined, this.#inFlightBytes]],
      );
      r.gauge(
        "elasticore_dfs_write_buffer_waiting",
        "DFS writes waiting for write-buffer space",
        () => [[undefined, this.#waiters.length]],
      );
    }
  }

  /** The byte bound. */
  get maxBytes(): number {
    return this.#max;
  }

  /** Bytes reserved by writes in flight. */
  get bufferedBytes(): number {
    return this.#inFlightBytes;
  }

  /** Bytes of hot copies. */
  get hotBytes(): number {
    return this.#hot.bytes;
  }

  /** Writes waiting for buffer space. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Counters of the hot copies. */
  stats(): CacheStats {
    return this.#hot.stats();
  }

  /**
   * Reserves `bytes` of write buffer, waiting (FIFO) until they fit. Throws
   * `dfs_overloaded` when {@link MemoryTierOptions.maxWaiting} writes already wait.
   */
  admit(bytes: number): Promise<WriteTicket> {
    if (this.#waiters.length === 0 && this.#fits(bytes)) return Promise.resolve(this.#grant(bytes));
    if (this.#waiters.length >= this.#maxWaiting) {
      return Promise.reject(overloaded(this.#waiters.length));
    }
    return new Promise((resolve) => this.#waiters.push({ bytes, resolve }));
  }

  #fits(bytes: number): boolean {
    return this.#inFlight === 0 || this.#inFlightBytes + bytes <= this.#max;
  }

  #grant(bytes: number): WriteTicket {
    this.#inFlight++;
    this.#inFlightBytes += bytes;
    this.#hot.resize(this.#max - this.#inFlightBytes);
    let done = false;
    return {
      bytes,
      release: () => {
        if (done) return;
        done = true;
        this.#inFlight--;
        this.#inFlightBytes -= bytes;
        this.#hot.resize(this.#max - this.#inFlightBytes);
        this.#wake();
      },
    };
  }

  #wake(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0].bytes)) {
      const w = this.#waiters.shift()!;
      w.resolve(this.#grant(w.bytes));
    }
  }

  /**
   * Keeps a copy of a block that is already durable on the disk tier. The tier takes
   * ownership of `bytes`; pass a copy if the caller may reuse its buffer. `sha256`: the
   * SHA-256 computed from these very bytes, if known.
   */
  keep(id: string, version: number, bytes: Uint8Array, sha256?: string): boolean {
    return this.#hot.set(id, version, bytes, sha256);
  }

  /** The hot copy of `(id, version)`, if held (the caller must not mutate it). */
  get(id: string, version: number): Uint8Array | undefined {
    return this.#hot.get(id, version);
  }

  /** The hot copy of `(id, version)` with its verified SHA-256, if held. */
  lookup(id: string, version: number): CachedBlock | undefined {
    return this.#hot.lookup(id, version);
  }

  /** See {@link LruCache.markVerified}. */
  markVerified(id: string, version: number, sha256: string): void {
    this.#hot.markVerified(id, version, sha256);
  }

  /** True if a hot copy of `(id, version)` is held. */
  has(id: string, version: number): boolean {
    return this.#hot.has(id, version);
  }

  /** Drops the hot copy of `id`. */
  invalidate(id: string): void {
    this.#hot.invalidate(id);
  }

  /** Drops every hot copy. */
  clear(): void {
    this.#hot.clear();
  }
}
