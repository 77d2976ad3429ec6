/**
 * Named deadlines of one core: a min-heap with lazy deletion, so setting,
 * moving and clearing a deadline is O(log n) and the shell needs only one
 * wake-up timer (the earliest deadline).
 *
 * @module
 */

interface Entry {
  at: number;
  seq: number;
  key: string;
}

/** A set of named deadlines in virtual or wall-clock milliseconds. */
export class Deadlines {
  #at = new Map<string, number>();
  #heap: Entry[] = [];
  #seq = 0;

  /** Sets (or moves) deadline `key` to time `at`. */
  set(key: string, at: number): void {
    this.#at.set(key, at);
    this.#push({ at, seq: this.#seq++, key });
  }

  /** Removes deadline `key` if set. */
  clear(key: string): void {
    this.#at.delete(key);
  }

  /** The time of deadline `key`, if set. */
  get(key: string): number | undefined {
    return this.#at.get(key);
  }

  /** Number of live deadlines. */
  get size(): number {
    return this.#at.size;
  }

  /** The earliest live deadline, if any. */
  next(): number | undefined {
    this.#dropStale();
    return this.#heap[0]?.at;
  }

  /** Removes and returns the earliest deadline due at `now`, in time then insertion order. */
  popDue(now: number): string | undefined {
    this.#dropStale();
    const top = this.#heap[0];
    if (!top || top.at > now) return undefined;
    this.#pop();
    this.#at.delete(top.key);
    return top.key;
  }

  #dropStale(): void {
    const h = this.#heap;
    while (h.length > 0 && this.#at.get(h[0].key) !== h[0].at) this.#pop();
    // A key set twice to the same time leaves a duplicate entry; the map check above keeps
    // only the first, and popDue deletes the key, so the duplicate becomes stale.
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l], h[m])) m = l;
      if (r < h.length && before(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
