/**
 * Per-task barrier alignment across input channels (sans-I/O).
 *
 * When barrier `n` arrives on a channel, that channel is blocked: whatever
 * arrives on it later is queued, because it belongs after the snapshot. When
 * every channel that has not ended delivered `n`, the task snapshots and
 * forwards the barrier (output `checkpoint`), the channels are unblocked and
 * the queued items are processed in channel order.
 *
 * Lost barriers: if a channel delivers a newer barrier `m > n` while `n` is
 * still being aligned, `n` can no longer complete here, so it is aborted
 * locally (output `abort`) and alignment of `m` starts. A barrier older than
 * the current alignment, or at most the last finished one, is stale and
 * ignored. The coordinator can also abort a checkpoint ({@link abort}).
 *
 * The shell should withhold flow-control credit from blocked channels
 * ({@link isBlocked}) so the queues stay bounded.
 *
 * @module
 */

/** What arrives on an input channel. */
export type ChannelItem<T> =
  | { kind: "record"; value: T }
  | { kind: "barrier"; checkpointId: number }
  | { kind: "end" };

/** What the task must do, in order. */
export type AlignerOutput<T> =
  | { type: "record"; channel: string; value: T }
  | { type: "checkpoint"; checkpointId: number }
  | { type: "abort"; checkpointId: number }
  | { type: "end" };

/** Aligns barriers over a fixed set of input channels. */
export class BarrierAligner<T> {
  readonly #channels: readonly string[];
  readonly #queues = new Map<string, ChannelItem<T>[]>();
  readonly #blocked = new Set<string>();
  readonly #ended = new Set<string>();
  #current: number | null = null;
  #lastDone = 0;
  #endEmitted = false;
  #out: AlignerOutput<T>[] = [];

  /** Creates an aligner over the named channels (at least one). */
  constructor(channels: readonly string[]) {
    if (channels.length === 0) throw new RangeError("an aligner needs at least one channel");
    if (new Set(channels).size !== channels.length) throw new RangeError("duplicate channel");
    this.#channels = [...channels];
    for (const c of channels) this.#queues.set(c, []);
  }

  /** The checkpoint being aligned, if any. */
  get aligning(): number | null {
    return this.#current;
  }

  /** The newest checkpoint this task snapshotted or aborted. */
  get lastFinished(): number {
    return this.#lastDone;
  }

  /** True if `channel` delivered the current barrier and its input is being held back. */
  isBlocked(channel: string): boolean {
    return this.#blocked.has(channel);
  }

  /** Items held back on blocked channels. */
  get buffered(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /** Accepts one item from `channel`; returns what the task must do now. */
  push(channel: string, item: ChannelItem<T>): AlignerOutput<T>[] {
    const q = this.#queues.get(channel);
    if (!q) throw new RangeError(`unknown input channel ${channel}`);
    if (this.#ended.has(channel)) return [];
    q.push(item);
    this.#drain();
    return this.#take();
  }

  /** The coordinator aborted checkpoint `id`: stop aligning it and never snapshot it. */
  abort(id: number): AlignerOutput<T>[] {
    if (this.#current === id) this.#abortCurrent();
    if (id > this.#lastDone && (this.#current === null || id > this.#current)) this.#lastDone = id;
    this.#drain();
    return this.#take();
  }

  /** Forgets everything (after a restore); barriers above `lastFinished` are accepted again. */
  reset(lastFinished = 0): void {
    for (const c of this.#channels) this.#queues.set(c, []);
    this.#blocked.clear();
    this.#ended.clear();
    this.#current = null;
    this.#lastDone = lastFinished;
    this.#endEmitted = false;
    this.#out = [];
  }

  #take(): AlignerOutput<T>[] {
    const o = this.#out;
    this.#out = [];
    return o;
  }

  #drain(): void {
    let progress = true;
    while (progress) {
      progress = false;
      for (const c of this.#channels) {
        const q = this.#queues.get(c)!;
        while (q.length > 0 && !this.#blocked.has(c) && !this.#ended.has(c)) {
          this.#handle(c, q.shift()!);
          progress = true;
        }
      }
    }
  }

  #handle(c: string, item: ChannelItem<T>): void {
    switch (item.kind) {
      case "record":
        this.#out.push({ type: "record", channel: c, value: item.value });
        return;
      case "end":
        this.#ended.add(c);
        this.#queues.set(c, []);
        this.#checkAligned();
        if (this.#current === null && this.#ended.size === this.#channels.length) {
          if (!this.#endEmitted) this.#out.push({ type: "end" });
          this.#endEmitted = true;
        }
        return;
      case "barrier": {
        const n = item.checkpointId;
        if (n <= this.#lastDone) return;
        if (this.#current !== null && n < this.#current) return;
        if (this.#current !== null && n > this.#current) this.#abortCurrent();
        this.#current = n;
        this.#blocked.add(c);
        this.#checkAligned();
        return;
      }
    }
  }

  #checkAligned(): void {
    if (this.#current === null) return;
    for (const c of this.#channels) {
      if (!this.#blocked.has(c) && !this.#ended.has(c)) return;
    }
    this.#out.push({ type: "checkpoint", checkpointId: this.#current });
    this.#lastDone = Math.max(this.#lastDone, this.#current);
    this.#current = null;
    this.#blocked.clear();
    if (this.#ended.size === this.#channels.length && !this.#endEmitted) {
      this.#endEmitted = true;
      this.#out.push({ type: "end" });
    }
  }

  #abortCurrent(): void {
    if (this.#current === null) return;
    this.#out.push({ type: "abort", checkpointId: this.#current });
    this.#lastDone = Math.max(this.#lastDone, this.#current);
    this.#current = null;
    this.#blocked.clear();
  }
}
