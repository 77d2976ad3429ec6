/**
 * The members table of one node: every known member by id, an indexed set of
 * the live ones (alive or suspect) for O(1) random choice, and the tombstones
 * (dead or left) in the order they were made, so expiring them is O(1)
 * amortised. No operation here scans the whole table except
 * {@link MembersTable.all}, used only by push/pull.
 *
 * @module
 */
import type { Member, MemberStatus, RandomSource } from "./types.ts";

/** An array-backed set with O(1) add, delete and uniform random choice. */
export class IndexedSet {
  #items: string[] = [];
  #pos = new Map<string, number>();

  /** Number of items. */
  get size(): number {
    return this.#items.length;
  }

  /** True if `id` is present. */
  has(id: string): boolean {
    return this.#pos.has(id);
  }

  /** Adds `id` (no-op if present). */
  add(id: string): void {
    if (this.#pos.has(id)) return;
    this.#pos.set(id, this.#items.length);
    this.#items.push(id);
  }

  /** Removes `id` (no-op if absent); the last item takes its place. */
  delete(id: string): void {
    const i = this.#pos.get(id);
    if (i === undefined) return;
    const last = this.#items.pop()!;
    this.#pos.delete(id);
    if (last !== id) {
      this.#items[i] = last;
      this.#pos.set(last, i);
    }
  }

  /** The item at position `i` (0 ≤ i < size). */
  at(i: number): string {
    return this.#items[i];
  }

  /** A copy of the items in their current order. */
  toArray(): string[] {
    return [...this.#items];
  }

  /**
   * Up to `k` distinct items chosen uniformly at random, skipping those in
   * `exclude`. Expected O(k) when few items are excluded.
   */
  sample(rng: RandomSource, k: number, exclude: ReadonlySet<string> = new Set()): string[] {
    const n = this.#items.length;
    const out: string[] = [];
    if (k <= 0 || n === 0) return out;
    let excludedPresent = 0;
    for (const e of exclude) if (this.#pos.has(e)) excludedPresent++;
    const available = n - excludedPresent;
    if (available <= 0) return out;
    if (k >= available || available <= 2 * k + 4) {
      // Small pool: partial Fisher-Yates over the eligible items.
      const pool = this.#items.filter((x) => !exclude.has(x));
      const m = Math.min(k, pool.length);
      for (let i = 0; i < m; i++) {
        const j = i + rng.int(pool.length - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
        out.push(pool[i]);
      }
      return out;
    }
    const chosen = new Set<string>();
    while (out.length < k) {
      const x = this.#items[rng.int(n)];
      if (exclude.has(x) || chosen.has(x)) continue;
      chosen.add(x);
      out.push(x);
    }
    return out;
  }
}

/** Every member the local node knows, itself included. */
export class MembersTable {
  readonly #byId = new Map<string, Member>();
  /** Live (alive or suspect) members other than the local node. */
  readonly live = new IndexedSet();
  /** Dead or left members other than the local node, still gossiped to for a while. */
  readonly recentlyDown = new IndexedSet();
  #tombstones: { id: string; at: number }[] = [];
  #tombHead = 0;
  #gossipHead = 0;
  readonly #selfId: string;

  /** Creates a table holding the local member. */
  constructor(self: Member) {
    this.#selfId = self.id;
    this.#byId.set(self.id, self);
  }

  /** The local member. */
  get self(): Member {
    return this.#byId.get(this.#selfId)!;
  }

  /** The member `id`, if known. */
  get(id: string): Member | undefined {
    return this.#byId.get(id);
  }

  /** Number of known members, tombstones and the local node included. */
  get size(): number {
    return this.#byId.size;
  }

  /** Live members, the local node included: the N of every formula. */
  get liveCount(): number {
    return this.live.size + 1;
  }

  /** Every known member (for push/pull), in insertion order. */
  all(): IterableIterator<Member> {
    return this.#byId.values();
  }

  /** Adds a new member (which must not be known yet). */
  add(m: Member): void {
    this.#byId.set(m.id, m);
    this.#index(m, undefined);
  }

  /** Changes the status of a known member and keeps the indexes in step. */
  setStatus(m: Member, status: MemberStatus, now: number): void {
    const before = m.status;
    m.status = status;
    m.changedAt = now;
    this.#index(m, before);
  }

  /**
   * Forgets tombstones older than `tombstoneMs` and stops gossiping to those
   * down longer than `gossipToDeadMs`. Returns the ids forgotten.
   */
  expire(now: number, tombstoneMs: number, gossipToDeadMs: number): string[] {
    const gone: string[] = [];
    const t = this.#tombstones;
    while (this.#tombHead < t.length) {
      const { id, at } = t[this.#tombHead];
      const m = this.#byId.get(id);
      const current = m !== undefined && isDown(m.status) && m.changedAt === at;
      if (current && at + tombstoneMs > now) break;
      this.#tombHead++;
      if (current) {
        this.#byId.delete(id);
        this.recentlyDown.delete(id);
        gone.push(id);
      }
    }
    this.#gossipHead = Math.max(this.#gossipHead, this.#tombHead);
    while (this.#gossipHead < t.length) {
      const { id, at } = t[this.#gossipHead];
      if (at + gossipToDeadMs > now) break;
      this.#gossipHead++;
      const m = this.#byId.get(id);
      if (m && isDown(m.status) && m.changedAt === at) this.recentlyDown.delete(id);
    }
    if (this.#tombHead > 1024 && this.#tombHead * 2 > t.length) {
      this.#tombstones = t.slice(this.#tombHead);
      this.#gossipHead -= this.#tombHead;
      this.#tombHead = 0;
    }
    return gone;
  }

  /** The time the oldest tombstone expires, if there is one. */
  nextExpiry(tombstoneMs: number): number | undefined {
    const t = this.#tombstones;
    for (let i = this.#tombHead; i < t.length; i++) {
      const m = this.#byId.get(t[i].id);
      if (m && isDown(m.status) && m.changedAt === t[i].at) return t[i].at + tombstoneMs;
    }
    return undefined;
  }

  #index(m: Member, before: MemberStatus | undefined): void {
    if (m.id === this.#selfId) return;
    if (isDown(m.status)) {
      this.live.delete(m.id);
      this.recentlyDown.add(m.id);
      if (before !== m.status) this.#tombstones.push({ id: m.id, at: m.changedAt });
    } else {
      this.recentlyDown.delete(m.id);
      this.live.add(m.id);
    }
  }
}

/** True for the tombstone states. */
export function isDown(s: MemberStatus): boolean {
  return s === "dead" || s === "left";
}
