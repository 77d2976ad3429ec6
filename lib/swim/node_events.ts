/**
 * Delivery of membership events to the rest of a node: a small typed
 * emitter (synchronous listeners, per kind or for all kinds) and async
 * iterators with a bounded buffer each. A slow iterator never blocks the
 * protocol: when its buffer is full the oldest event is dropped and counted.
 *
 * @module
 */
import type { SwimEvent, SwimEventKind } from "./types.ts";

/** A synchronous event listener; its exceptions are caught and reported. */
export type SwimListener = (event: SwimEvent) => void;

/** Default bound of an iterator's buffer. */
export const DEFAULT_EVENT_BUFFER = 1024;

/** An async iterator over events with a bounded buffer. */
export interface SwimEventStream extends AsyncIterableIterator<SwimEvent> {
  /** Events dropped because the buffer was full. */
  readonly dropped: number;
  /** Stops the stream: pending `next()` calls resolve with `done`. */
  close(): void;
}

/** The emitter behind `SwimNode.events`. */
export class SwimEvents {
  readonly #listeners = new Map<SwimEventKind | "*", Set<SwimListener>>();
  readonly #streams = new Set<BoundedStream>();
  readonly #onError: (e: unknown) => void;

  /** Creates an emitter; listener failures go to `onError`. */
  constructor(onError: (e: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  /** Calls `listener` for events of `kind` (or every event for `"*"`); returns the unsubscriber. */
  on(kind: SwimEventKind | "*", listener: SwimListener): () => void {
    let set = this.#listeners.get(kind);
    if (!set) {
      set = new Set();
      this.#listeners.set(kind, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** A new async iterator over every later event, buffering at most `buffer` of them. */
  subscribe(buffer = DEFAULT_EVENT_BUFFER): SwimEventStream {
    if (!Number.isInteger(buffer) || buffer < 1) {
      throw new RangeError(`event buffer must be a positive integer, got ${buffer}`);
    }
    const s = new BoundedStream(buffer, () => this.#streams.delete(s));
    this.#streams.add(s);
    return s;
  }

  /** Delivers `event` to every listener and stream. */
  emit(event: SwimEvent): void {
    for (const key of [event.kind, "*"] as const) {
      const set = this.#listeners.get(key);
      if (!set) continue;
      for (const l of [...set]) {
        try {
          l(event);
        } catch (e) {
          this.#onError(e);
        }
      }
    }
    for (const s of this.#streams) s.push(event);
  }

  /** Ends every stream (the node stopped). */
  closeAll(): void {
    for (const s of [...this.#streams]) s.close();
  }
}

class BoundedStream implements SwimEventStream {
  #buf: SwimEvent[] = [];
  #waiters: ((r: IteratorResult<SwimEvent>) => void)[] = [];
  #closed = false;
  #dropped = 0;
  readonly #max: number;
  readonly #onClose: () => void;

  constructor(max: number, onClose: () => void) {
    this.#max = max;
    this.#onClose = onClose;
  }

  get dropped(): number {
    return this.#dropped;
  }

  push(e: SwimEvent): void {
    if (this.#closed) return;
    const w = this.#waiters.shift();
    if (w) return w({ value: e, done: false });
    if (this.#buf.length >= this.#max) {
      this.#buf.shift();
      this.#dropped++;
    }
    this.#buf.push(e);
  }

  next(): Promise<IteratorResult<SwimEvent>> {
    const e = this.#buf.shift();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  return(): Promise<IteratorResult<SwimEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buf = [];
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    this.#onClose();
  }

  [Symbol.asyncIterator](): SwimEventStream {
    return this;
  }
}
