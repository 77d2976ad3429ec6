/**
 * A mutual-exclusion lock per key: operations on the same key run one after
 * the other, operations on different keys run concurrently. Used to serialise
 * writers of one block or one metadata record.
 *
 * @module
 */

/** Per-key FIFO locks; a key's entry is dropped when nobody holds or waits for it. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier holder of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.#tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Number of keys currently held or awaited. */
  get size(): number {
    return this.#tails.size;
  }
}
