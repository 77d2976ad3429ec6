/**
 * A simulated disk: a key-value store whose writes are pending until synced.
 * A crash throws away exactly the writes (and deletes) not yet synced, which
 * is what a power loss does to a real file system after `write` without
 * `fsync`.
 *
 * @module
 */

type Pending<V> = { key: string; value: V | undefined };

/** One node's simulated disk. Values are stored by reference; store immutable values. */
export class SimDisk<V = unknown> {
  #durable = new Map<string, V>();
  #pending: Pending<V>[] = [];
  #view = new Map<string, V>();
  /** Number of completed syncs (for tests and metrics). */
  syncs = 0;
  /** Number of writes lost in crashes. */
  lostWrites = 0;

  /** Writes `value` at `key`; visible at once, durable after {@link sync}. */
  write(key: string, value: V): void {
    this.#pending.push({ key, value });
    this.#view.set(key, value);
  }

  /** Deletes `key`; the delete is durable after {@link sync}. */
  delete(key: string): void {
    this.#pending.push({ key, value: undefined });
    this.#view.delete(key);
  }

  /** The value at `key` as the running process sees it (pending writes included). */
  read(key: string): V | undefined {
    return this.#view.get(key);
  }

  /** Keys visible to the running process, sorted, optionally by prefix. */
  keys(prefix = ""): string[] {
    return [...this.#view.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Number of writes not yet durable. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  /** Makes every pending write durable. */
  sync(): void {
    for (const p of this.#pending) {
      if (p.value === undefined) this.#durable.delete(p.key);
      else this.#durable.set(p.key, p.value);
    }
    this.#pending = [];
    this.syncs++;
  }

  /** Simulates power loss: pending writes vanish; the view returns to the durable state. */
  crash(): number {
    const lost = this.#pending.length;
    this.lostWrites += lost;
    this.#pending = [];
    this.#view = new Map(this.#durable);
    return lost;
  }

  /** The durable contents (what survives a crash), for invariant checks. */
  durableEntries(): [string, V][] {
    return [...this.#durable.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}
