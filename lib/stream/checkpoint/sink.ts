/**
 * A transactional (two-phase commit) sink model for exactly-once output.
 *
 * Records written between two barriers form one transaction. At barrier `n`
 * the open transaction is pre-committed (staged durably under `n`); when the
 * coordinator reports checkpoint `n` complete, every staged transaction up
 * to `n` is committed in order. Commit is idempotent. A restore to
 * checkpoint `c` discards the open transaction and every staged one after
 * `c`; staged ones up to `c` stay and are committed by the next `commit`
 * (checkpoint `c` did complete, so they belong to the output).
 *
 * @module
 */

/** Staged and committed output of one sink task. */
export class TransactionalSink<T> {
  #open: T[] = [];
  #staged = new Map<number, T[]>();
  #committedUpTo = 0;
  #committed: T[] = [];
  #onCommit: ((records: readonly T[], checkpointId: number) => void) | undefined;

  /** `onCommit` is called with each transaction as it is committed (to write it out). */
  constructor(onCommit?: (records: readonly T[], checkpointId: number) => void) {
    this.#onCommit = onCommit;
  }

  /** Adds a record to the open transaction. */
  write(rec: T): void {
    this.#open.push(rec);
  }

  /** Barrier `checkpointId`: stages the open transaction under it. */
  preCommit(checkpointId: number): void {
    if (checkpointId <= this.#committedUpTo) return;
    const prev = this.#staged.get(checkpointId);
    if (prev) { for (const r of this.#open) prev.push(r); }
    else this.#staged.set(checkpointId, this.#open);
    this.#open = [];
  }

  /** Checkpoint `checkpointId` completed: commits every staged transaction up to it. */
  commit(checkpointId: number): number {
    if (checkpointId <= this.#committedUpTo) return 0;
    const ids = [...this.#staged.keys()].filter((id) => id <= checkpointId).sort((a, b) => a - b);
    let n = 0;
    for (const id of ids) {
      const recs = this.#staged.get(id)!;
      this.#staged.delete(id);
      for (const r of recs) this.#committed.push(r);
      n += recs.length;
      this.#onCommit?.(recs, id);
    }
    this.#committedUpTo = checkpointId;
    return n;
  }

  /** Rolls back to checkpoint `checkpointId` (`0`: nothing completed yet). */
  restore(checkpointId: number): void {
    this.#open = [];
    for (const id of [...this.#staged.keys()]) if (id > checkpointId) this.#staged.delete(id);
  }

  /** Highest checkpoint id committed. */
  get committedUpTo(): number {
    return this.#committedUpTo;
  }

  /** Everything committed so far, in commit order. */
  get committed(): readonly T[] {
    return this.#committed;
  }

  /** Records in the open transaction. */
  get openCount(): number {
    return this.#open.length;
  }

  /** Ids of staged transactions, ascending. */
  get stagedIds(): number[] {
    return [...this.#staged.keys()].sort((a, b) => a - b);
  }
}
