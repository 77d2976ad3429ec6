/**
 * ReadIndex bookkeeping on the leader: each read records the commit index at
 * the time it arrived and waits until a quorum of voters answered a heartbeat
 * carrying its context, which proves the leader was still the leader then.
 *
 * @module
 */

/** A read waiting for a quorum of heartbeat answers. */
export interface PendingRead {
  /** Commit index when the read arrived. */
  index: number;
  /** The caller's context. */
  ctx: Uint8Array;
  /** Who asked: this node or a follower that forwarded it. */
  from: string;
  /** Voters that acknowledged (the leader counts itself). */
  acks: Set<string>;
}

/** Hex key of a context, for lookups. */
export function ctxKey(ctx: Uint8Array): string {
  let s = "";
  for (const b of ctx) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Reads waiting for leadership confirmation, in arrival order. */
export class ReadOnlyQueue {
  #byKey = new Map<string, PendingRead>();
  #order: string[] = [];

  /** Number of reads waiting. */
  get size(): number {
    return this.#order.length;
  }

  /** Queues a read unless one with the same context is already waiting. */
  add(read: PendingRead): boolean {
    const k = ctxKey(read.ctx);
    if (this.#byKey.has(k)) return false;
    this.#byKey.set(k, read);
    this.#order.push(k);
    return true;
  }

  /** Records `from`'s acknowledgement of `ctx`; returns how many voters acked it. */
  recvAck(from: string, ctx: Uint8Array): number {
    const r = this.#byKey.get(ctxKey(ctx));
    if (!r) return 0;
    r.acks.add(from);
    return r.acks.size;
  }

  /** Acks of `ctx` counted among `voters`. */
  ackedVoters(ctx: Uint8Array, voters: readonly string[]): number {
    const r = this.#byKey.get(ctxKey(ctx));
    if (!r) return 0;
    let n = 0;
    for (const v of voters) if (r.acks.has(v)) n++;
    return n;
  }

  /** Removes and returns every read up to and including the one with `ctx`. */
  advance(ctx: Uint8Array): PendingRead[] {
    const k = ctxKey(ctx);
    const pos = this.#order.indexOf(k);
    if (pos < 0) return [];
    const keys = this.#order.splice(0, pos + 1);
    const out: PendingRead[] = [];
    for (const key of keys) {
      out.push(this.#byKey.get(key)!);
      this.#byKey.delete(key);
    }
    return out;
  }

  /** Context of the most recent read, to piggyback on heartbeats. */
  lastCtx(): Uint8Array | undefined {
    const k = this.#order[this.#order.length - 1];
    return k === undefined ? undefined : this.#byKey.get(k)!.ctx;
  }

  /** Drops every waiting read (leadership lost). */
  reset(): void {
    this.#byKey.clear();
    this.#order = [];
  }
}
