/**
 * A priority queue of timed events, ordered by time and then by insertion, so
 * that events at the same virtual instant run in a deterministic order.
 *
 * @module
 */

/** An event scheduled at a virtual time. */
export interface TimedEvent<T> {
  /** Virtual time in milliseconds. */
  at: number;
  /** Insertion sequence number, the tie-breaker. */
  seq: number;
  /** The payload. */
  value: T;
}

/** Binary min-heap of {@link TimedEvent}s. */
export class EventQueue<T> {
  #heap: TimedEvent<T>[] = [];
  #seq = 0;

  /** Number of queued events. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `value` at time `at`. */
  push(at: number, value: T): TimedEvent<T> {
    const ev = { at, seq: this.#seq++, value };
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
    return ev;
  }

  /** The earliest event without removing it. */
  peek(): TimedEvent<T> | undefined {
    return this.#heap[0];
  }

  /** Removes and returns the earliest event. */
  pop(): TimedEvent<T> | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
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
    return top;
  }
}

function before<T>(a: TimedEvent<T>, b: TimedEvent<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
