/**
 * Batching of Deno KV mutations into atomic operations within Deno KV's limits: at most 1000
 * mutations, 800 KiB of keys plus values and 80 KiB of keys per atomic (a value is at most
 * 64 KiB). The disk tier packs a block's chunks close to these limits, which is what gives it
 * its write throughput (one fsynced commit per ~750 KiB instead of one per chunk).
 *
 * @module
 */

/** Deno KV: maximum mutations in one atomic operation. */
export const KV_MAX_MUTATIONS = 1000;
/** Deno KV: maximum total size of keys and values in one atomic operation. */
export const KV_MAX_ATOMIC_BYTES = 819200;
/** Deno KV: maximum total size of keys in one atomic operation. */
export const KV_MAX_ATOMIC_KEY_BYTES = 81920;
/** Margin kept below the key-size limit for the encoding overhead we do not model exactly. */
const KEY_MARGIN = 1024;

/** One set (value defined) or delete (value undefined), with its estimated encoded size. */
export interface Mutation {
  /** The key. */
  key: Deno.KvKey;
  /** The value to set, or undefined to delete. */
  value?: unknown;
  /** Estimated key plus value bytes. */
  bytes: number;
  /** Estimated key bytes. */
  keyBytes: number;
}

const encoder = new TextEncoder();

/** An upper bound of the encoded size of `key`. */
export function keyBytesOf(key: Deno.KvKey): number {
  let n = 0;
  for (const part of key) {
    // A string part is a tag, its UTF-8 bytes (NUL escaped to two bytes) and a terminator.
    n += typeof part === "string" ? 2 + 2 * encoder.encode(part).length : 10;
  }
  return n;
}

/** A mutation of `key`; `valueBytes` is an upper bound of the encoded value size. */
export function mutation(key: Deno.KvKey, value: unknown, valueBytes: number): Mutation {
  const keyBytes = keyBytesOf(key);
  return { key, value, bytes: keyBytes + valueBytes, keyBytes };
}

/** Limits of one atomic. */
export interface BatchLimits {
  /** Budget of keys plus values. */
  bytes: number;
}

function fits(ms: Mutation[], limits: BatchLimits): boolean {
  let bytes = 0;
  let keys = 0;
  for (const m of ms) {
    bytes += m.bytes;
    keys += m.keyBytes;
  }
  return ms.length <= KV_MAX_MUTATIONS && bytes <= limits.bytes &&
    keys <= KV_MAX_ATOMIC_KEY_BYTES - KEY_MARGIN;
}

/**
 * Packs `muts` into atomics; the `final` mutations go into the last one (with as many of
 * `muts` as fit). When more than one atomic is needed, every atomic but the last also carries
 * `marker` (the write intent), so any committed prefix of the batches is discoverable.
 */
export function packBatches(
  muts: Mutation[],
  final: Mutation[],
  marker: Mutation,
  limits: BatchLimits,
): Mutation[][] {
  const all = [...muts, ...final];
  if (fits(all, limits)) return [all];
  const batches: Mutation[][] = [];
  let cur: Mutation[] = [marker];
  let bytes = marker.bytes;
  let keyBytes = marker.keyBytes;
  for (const m of muts) {
    if (
      cur.length + 1 > KV_MAX_MUTATIONS || bytes + m.bytes > limits.bytes ||
      keyBytes + m.keyBytes > KV_MAX_ATOMIC_KEY_BYTES - KEY_MARGIN
    ) {
      batches.push(cur);
      cur = [marker];
      bytes = marker.bytes;
      keyBytes = marker.keyBytes;
    }
    cur.push(m);
    bytes += m.bytes;
    keyBytes += m.keyBytes;
  }
  const last = [...cur.slice(1), ...final];
  if (fits(last, limits)) batches.push(last);
  else batches.push(cur, final);
  return batches;
}

/** Commits one atomic; resolves once Deno KV committed it durably. */
export async function commitBatch(kv: Deno.Kv, batch: Mutation[]): Promise<void> {
  const op = kv.atomic();
  for (const m of batch) {
    if (m.value === undefined) op.delete(m.key);
    else op.set(m.key, m.value);
  }
  const res = await op.commit();
  if (!res.ok) throw new Error("Deno KV atomic commit failed");
}

/** Commits `batches` with at most `concurrency` commits in flight (order not guaranteed). */
export async function commitConcurrently(
  kv: Deno.Kv,
  batches: Mutation[][],
  concurrency: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < batches.length) await commitBatch(kv, batches[next++]);
  };
  const n = Math.min(Math.max(1, concurrency), batches.length);
  await Promise.all(Array.from({ length: n }, worker));
}

interface Queued {
  seq: number;
  batch: Mutation[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Commits atomics with at most `concurrency` in flight, oldest writer first: every batch is
 * submitted with its writer's sequence number, and a free slot goes to the waiting batch with
 * the lowest one (submission order among equals). Deno KV commits one atomic at a time, so
 * blocks written at once would otherwise interleave their batches and all finish together at
 * the end; in order, each finishes as early as it can, and the writers behind it (a replica
 * still receiving the next block) find the store busy rather than idle.
 */
export class CommitQueue {
  readonly #kv: Deno.Kv;
  readonly #concurrency: number;
  readonly #waiting: Queued[] = [];
  #inFlight = 0;

  /** A queue committing to `kv` with at most `concurrency` (>= 1) atomics in flight. */
  constructor(kv: Deno.Kv, concurrency: number) {
    this.#kv = kv;
    this.#concurrency = Math.max(1, concurrency);
  }

  /** Commits `batch` for writer `seq`; resolves once Deno KV committed it durably. */
  submit(seq: number, batch: Mutation[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ seq, batch, resolve, reject });
      this.#pump();
    });
  }

  /**
   * Commits the batches of writer `seq`: every one but the last in any order, then the last
   * once all the others are committed (queued at once, so it takes the slot its predecessor
   * frees). If one fails, the last is not committed and the first failure is thrown after
   * the others settled.
   */
  write(seq: number, batches: Mutation[][]): Promise<void> {
    return new Promise((resolve, reject) => {
      let pending = batches.length - 1;
      let failure: { e: unknown } | null = null;
      const settle = () => {
        if (--pending > 0) return;
        if (failure) reject(failure.e);
        else this.#waiting.push({ seq, batch: batches[batches.length - 1], resolve, reject });
      };
      if (batches.length === 1) {
        this.#waiting.push({ seq, batch: batches[0], resolve, reject });
      }
      for (const batch of batches.slice(0, -1)) {
        this.#waiting.push({
          seq,
          batch,
          resolve: settle,
          reject: (e) => {
            failure ??= { e };
            settle();
          },
        });
      }
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && this.#waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < this.#waiting.length; i++) {
        if (this.#waiting[i].seq < this.#waiting[best].seq) best = i;
      }
      const q = this.#waiting.splice(best, 1)[0];
      this.#inFlight++;
      // The submitter hears first, so a batch it queues in response competes for this slot.
      commitBatch(this.#kv, q.batch).then(() => {
        this.#inFlight--;
        q.resolve();
        this.#pump();
      }, (e) => {
        this.#inFlight--;
        q.reject(e);
        this.#pump();
      });
    }
  }
}

/** Commits deletes (or any value-less mutations) in as few atomics as the limits allow. */
export async function deleteAll(kv: Deno.Kv, muts: Mutation[]): Promise<void> {
  let cur: Mutation[] = [];
  let keyBytes = 0;
  for (const m of muts) {
    if (
      cur.length >= KV_MAX_MUTATIONS || keyBytes + m.keyBytes > KV_MAX_ATOMIC_KEY_BYTES - KEY_MARGIN
    ) {
      await commitBatch(kv, cur);
      cur = [];
      keyBytes = 0;
    }
    cur.push(m);
    keyBytes += m.keyBytes;
  }
  if (cur.length) await commitBatch(kv, cur);
}
