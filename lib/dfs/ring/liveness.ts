/**
 * What a ring node believes about other nodes' liveness: suspicions with an
 * expiry (from request timeouts or SWIM), and a short list of contacts to
 * rejoin through after losing the ring.
 *
 * @module
 */

/** Suspected-dead nodes and rejoin contacts of one ring node. */
export class PeerHealth {
  readonly #suspects = new Map<string, number>();
  readonly #dead = new Set<string>();
  readonly #contacts: string[] = [];
  readonly #maxContacts: number;

  /** Keeps at most `maxContacts` contacts, most recent last. */
  constructor(maxContacts = 16) {
    this.#maxContacts = maxContacts;
  }

  /**
   * Suspects `id` until tick `until`. With `dead` (SWIM declared it dead) the
   * node is also left out of successor lists copied from others until then; a
   * mere timeout is not enough for that, since a lost message looks the same.
   */
  suspect(id: string, until: number, dead = false): void {
    this.#suspects.set(id, Math.max(until, this.#suspects.get(id) ?? 0));
    if (dead) this.#dead.add(id);
  }

  /** True if SWIM declared `id` dead (and nothing since showed it alive). */
  isDead(id: string): boolean {
    return this.#dead.has(id);
  }

  /** True if `id` is currently suspected. */
  isSuspect(id: string): boolean {
    return this.#suspects.has(id);
  }

  /** Evidence that `id` is alive: clears the suspicion. */
  clear(id: string): void {
    this.#suspects.delete(id);
    this.#dead.delete(id);
  }

  /** Drops suspicions that expired by tick `now`. */
  expire(now: number): void {
    for (const [id, until] of this.#suspects) if (until <= now) this.clear(id);
  }

  /** Currently suspected nodes. */
  suspects(): string[] {
    return [...this.#suspects.keys()];
  }

  /** Remembers `id` as a node to rejoin through. */
  addContact(id: string): void {
    const i = this.#contacts.indexOf(id);
    if (i >= 0) this.#contacts.splice(i, 1);
    this.#contacts.push(id);
    if (this.#contacts.length > this.#maxContacts) this.#contacts.shift();
  }

  /** The next contact to try, round-robin, or undefined if none is known. */
  nextContact(): string | undefined {
    const via = this.#contacts.shift();
    if (via !== undefined) this.#contacts.push(via);
    return via;
  }

  /** Known contacts, oldest first. */
  contacts(): string[] {
    return [...this.#contacts];
  }
}

/** An outstanding request: to whom, and the tick after which it counts as failed. */
export interface Outstanding {
  /** The node asked. */
  readonly to: { readonly id: string };
  /** Tick at which the request times out. */
  due: number;
}

/** Requests awaiting a reply, keyed by request id. */
export class PendingRequests<P extends Outstanding> {
  #seq = 0;
  readonly #pending = new Map<number, P>();

  /** Requests in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /** Records `p` as due at tick `due`; returns its new request id. */
  open(p: P, due: number): number {
    const req = ++this.#seq;
    p.due = due;
    this.#pending.set(req, p);
    return req;
  }

  /** Removes and returns request `req` if `from` is the node it was sent to. */
  take(req: number, from: string): P | undefined {
    const p = this.#pending.get(req);
    if (p === undefined || p.to.id !== from) return undefined;
    this.#pending.delete(req);
    return p;
  }

  /** Removes and returns every request matching `pred` (expired, or sent to a dead node). */
  takeWhere(pred: (p: P) => boolean): P[] {
    const out: P[] = [];
    for (const [req, p] of this.#pending) {
      if (pred(p)) {
        this.#pending.delete(req);
        out.push(p);
      }
    }
    return out;
  }
}
