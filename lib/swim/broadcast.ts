/**
 * The gossip broadcast queue (memberlist's transmit-limited queue): each
 * membership update is piggybacked on outgoing datagrams until it has been
 * sent `limit` times. Least-transmitted updates go first and, among equals,
 * the newest; a newer update about a member replaces the queued one. Updates
 * are packed into a byte budget so a datagram never exceeds its maximum size.
 *
 * @module
 */
import { type Update, updateSizeBound } from "../../proto/swim.ts";

interface Item {
  key: string;
  update: Update;
  size: number;
  transmits: number;
  order: number;
}

/** Smallest update size bound; below this remaining budget a scan stops early. */
const MIN_UPDATE_BYTES = 24;

/** Transmit-limited queue of membership updates. */
export class BroadcastQueue {
  /** buckets[t] holds the items sent t times, newest (highest order) first. */
  #buckets: Item[][] = [];
  #byKey = new Map<string, Item>();
  #order = 0;
  readonly #maxItems: number;

  /** Creates a queue holding at most `maxItems` updates. */
  constructor(maxItems: number) {
    this.#maxItems = Math.max(1, maxItems);
  }

  /** Updates waiting to be (re)transmitted. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The queued update about member `key`, if any. */
  pending(key: string): Update | undefined {
    return this.#byKey.get(key)?.update;
  }

  /** Queues `update`, replacing any queued update about the same member. */
  enqueue(update: Update): void {
    const old = this.#byKey.get(update.id);
    if (old) this.#remove(old);
    const item: Item = {
      key: update.id,
      update,
      size: updateSizeBound(update),
      transmits: 0,
      order: this.#order++,
    };
    this.#byKey.set(item.key, item);
    this.#bucket(0).unshift(item);
    while (this.#byKey.size > this.#maxItems) this.#dropOldest();
  }

  /**
   * Takes the updates that fit in `budget` bytes (at most `maxCount`), counts
   * one transmission for each, and drops those sent `limit` times.
   */
  take(budget: number, limit: number, maxCount = 256): Update[] {
    const out: Update[] = [];
    if (this.#byKey.size === 0 || budget < MIN_UPDATE_BYTES || maxCount <= 0) return out;
    const taken: Item[] = [];
    let left = budget;
    scan: for (const bucket of this.#buckets) {
      if (!bucket) continue;
      for (const item of bucket) {
        if (item.size > left) continue;
        taken.push(item);
        out.push(item.update);
        left -= item.size;
        if (left < MIN_UPDATE_BYTES || out.length >= maxCount) break scan;
      }
    }
    for (const item of taken) {
      this.#remove(item);
      item.transmits++;
      if (item.transmits < limit) {
        this.#byKey.set(item.key, item);
        insertByOrder(this.#bucket(item.transmits), item);
      }
    }
    return out;
  }

  #bucket(t: number): Item[] {
    while (this.#buckets.length <= t) this.#buckets.push([]);
    return this.#buckets[t];
  }

  #remove(item: Item): void {
    this.#byKey.delete(item.key);
    const b = this.#buckets[item.transmits];
    const i = indexByOrder(b, item.order);
    if (i >= 0) b.splice(i, 1);
  }

  #dropOldest(): void {
    for (let t = this.#buckets.length - 1; t >= 0; t--) {
      const b = this.#buckets[t];
      if (b.length > 0) {
        const item = b[b.length - 1];
        this.#remove(item);
        return;
      }
    }
  }
}

/** Position of the item with `order` in a bucket sorted by descending order, or -1. */
function indexByOrder(b: Item[], order: number): number {
  let lo = 0;
  let hi = b.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const o = b[mid].order;
    if (o === order) return mid;
    if (o > order) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function insertByOrder(b: Item[], item: Item): void {
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (b[mid].order > item.order) lo = mid + 1;
    else hi = mid;
  }
  b.splice(lo, 0, item);
}
