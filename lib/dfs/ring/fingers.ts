/**
 * Peers as the ring core sees them, the finger table and successor-list
 * reconciliation: the pure, message-free parts of Chord.
 *
 * @module
 */
import { distance, fingerStart, inOpenClosed, RING_BITS, type RingId, ringIdOf } from "./id.ts";

/** A node as seen by the ring: its node id and its ring identifier. */
export interface Peer {
  /** Node id (the transport address key). */
  readonly id: string;
  /** `ringIdOf(id)`. */
  readonly rid: RingId;
}

/** The {@link Peer} for a node id. */
export function peerOf(id: string): Peer {
  return { id, rid: ringIdOf(id) };
}

/**
 * Zave's successor-list reconciliation: `[head] ++ headList`, minus the last
 * entries, kept strictly in ring order as seen from `self`. Entries after
 * `self` (a wrap-around in a small ring), repeated or out-of-order entries and
 * entries `skip` rejects (suspected dead) are dropped. At most `r` entries.
 */
export function reconcile(
  self: Peer,
  head: Peer,
  headList: readonly string[],
  r: number,
  skip: (id: string) => boolean = () => false,
): Peer[] {
  if (head.id === self.id) return [];
  const out: Peer[] = [head];
  let last = distance(self.rid, head.rid);
  for (const id of headList) {
    if (out.length >= r) break;
    if (id === self.id) break;
    if (skip(id)) continue;
    const p = peerOf(id);
    const d = distance(self.rid, p.rid);
    if (d <= last) continue;
    out.push(p);
    last = d;
  }
  return out;
}

/** The `k` distinct peers nearest at or after `key`, clockwise, as node ids. */
export function nearestAtOrAfter(key: RingId, peers: readonly Peer[], k: number): string[] {
  const unique = new Map<string, Peer>();
  for (const p of peers) unique.set(p.id, p);
  return [...unique.values()]
    .map((p) => ({ id: p.id, d: distance(key, p.rid) }))
    .sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0))
    .slice(0, k)
    .map((x) => x.id);
}

/** The Chord finger table: `finger[i]` is the successor of `self + 2^i`. */
export class FingerTable {
  readonly #self: Peer;
  readonly #fingers: (Peer | null)[] = new Array(RING_BITS).fill(null);
  #cursor = 0;

  /** An empty table for `self`. */
  constructor(self: Peer) {
    this.#self = self;
  }

  /** Finger `i`, or null if unknown. */
  get(i: number): Peer | null {
    return this.#fingers[i];
  }

  /** Node ids of every finger (null where unknown), index 0 first. */
  ids(): (string | null)[] {
    return this.#fingers.map((f) => f?.id ?? null);
  }

  /**
   * Records that `owner` is the successor of finger `i`'s start, and of every
   * following finger whose start also falls in `[start_i, owner]`.
   */
  set(i: number, owner: Peer | null): void {
    if (owner === null || owner.id === this.#self.id) {
      this.#fingers[i] = null;
      return;
    }
    this.#fingers[i] = owner;
    const start = fingerStart(this.#self.rid, i);
    for (let j = i + 1; j < RING_BITS; j++) {
      const sj = fingerStart(this.#self.rid, j);
      if (distance(start, sj) > distance(start, owner.rid)) break;
      this.#fingers[j] = owner;
    }
  }

  /** Forgets `id` everywhere in the table. */
  remove(id: string): void {
    for (let i = 0; i < RING_BITS; i++) {
      if (this.#fingers[i]?.id === id) this.#fingers[i] = null;
    }
  }

  /** Fills every finger from a complete, sorted view of the ring (static bootstrap). */
  fillFrom(sorted: readonly Peer[]): void {
    if (sorted.length === 0) return;
    for (let i = 0; i < RING_BITS; i++) {
      const start = fingerStart(this.#self.rid, i);
      // Binary search for the first node at or after `start` in sorted order.
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid].rid < start) lo = mid + 1;
        else hi = mid;
      }
      const k = lo === sorted.length ? 0 : lo;
      const owner = sorted[k];
      this.#fingers[i] = owner.id === this.#self.id ? null : owner;
    }
  }

  /**
   * Finger indexes to refresh this round: walks the table from the cursor,
   * setting fingers whose start lies in `(self, successor]` to the successor
   * for free, and returns up to `budget` indexes that need a lookup.
   */
  due(successor: Peer | null, budget: number, busy: (i: number) => boolean): number[] {
    const out: number[] = [];
    for (let scanned = 0; scanned < RING_BITS && out.length < budget; scanned++) {
      const i = this.#cursor;
      this.#cursor = (this.#cursor + 1) % RING_BITS;
      if (successor === null) {
        this.#fingers[i] = null;
        continue;
      }
      const start = fingerStart(this.#self.rid, i);
      if (inOpenClosed(start, this.#self.rid, successor.rid)) {
        this.#fingers[i] = successor;
        continue;
      }
      if (!busy(i)) out.push(i);
    }
    return out;
  }

  /**
   * The known node closest to `key` while strictly between self and `key`
   * (Chord's closest preceding node), among fingers and `extra` candidates.
   */
  closestPreceding(
    key: RingId,
    extra: readonly (Peer | null)[],
    usable: (p: Peer) => boolean,
  ): Peer | null {
    const self = this.#self.rid;
    const dKey = distance(self, key);
    let best: Peer | null = null;
    let bestD = 0n;
    const consider = (p: Peer | null) => {
      if (p === null) return;
      const d = distance(self, p.rid);
      if (d === 0n || d >= dKey || d <= bestD) return;
      if (!usable(p)) return;
      best = p;
      bestD = d;
    };
    for (let i = RING_BITS - 1; i >= 0; i--) consider(this.#fingers[i]);
    for (const p of extra) consider(p);
    return best;
  }
}
