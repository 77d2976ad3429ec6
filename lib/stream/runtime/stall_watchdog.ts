/**
 * Notices a running job that stopped making progress: no record processed,
 * no checkpoint completed, no task finished, for longer than a timeout.
 * Whatever the cause (a lost credit or barrier, a task blocked on storage
 * that never answers), the job driver then restarts the attempt from the
 * last completed checkpoint, as Flink fails over after too many failed
 * checkpoints. Pure: the caller supplies the clock.
 *
 * @module
 */

/** See the module documentation. */
export class StallWatchdog {
  /** Milliseconds without any change of the progress mark that count as a stall. */
  readonly timeoutMs: number;
  #mark: string | undefined;
  #since = 0;

  /** Creates the watchdog; `timeoutMs` must be positive. */
  constructor(timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new RangeError(`stall timeout must be positive, got ${timeoutMs}`);
    this.timeoutMs = timeoutMs;
  }

  /**
   * Feeds the current progress mark (any string that changes whenever the job
   * progresses) at time `now`; true once it has not changed for `timeoutMs`.
   */
  observe(mark: string, now: number): boolean {
    if (mark !== this.#mark) {
      this.#mark = mark;
      this.#since = now;
      return false;
    }
    return now - this.#since >= this.timeoutMs;
  }

  /** Milliseconds since the mark last changed. */
  stalledFor(now: number): number {
    return this.#mark === undefined ? 0 : now - this.#since;
  }

  /** Forgets the mark (after a restart the next observation starts a new period). */
  reset(): void {
    this.#mark = undefined;
  }
}

/** The stall timeout of a job: three checkpoint timeouts, at least 30 s. */
export function stallTimeoutMs(checkpointTimeoutMs: number | undefined): number {
  return Math.max(30_000, 3 * (checkpointTimeoutMs ?? 10_000));
}
