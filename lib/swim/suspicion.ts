/**
 * Lifeguard's two local mechanisms, as pure arithmetic:
 *
 * - {@link Suspicion}: a suspicion timeout that starts at `max` and shrinks
 *   towards `min` on a log scale as independent confirmations arrive:
 *   `timeout(c) = max − (max − min) · log(c + 1) / log(k + 1)`, never below
 *   `min`, where `k` confirmations are expected.
 * - {@link Awareness}: the local health score (0..max) raised when probes fail
 *   or nacks are missing or we have to refute a suspicion of ourselves, and
 *   lowered by successful probes; timeouts are multiplied by `1 + score`.
 *
 * @module
 */

/** The suspicion of one member held by the local node. */
export class Suspicion {
  /** Local time the suspicion started, in ms. */
  readonly start: number;
  readonly #k: number;
  readonly #min: number;
  readonly #max: number;
  readonly #confirmers = new Set<string>();

  /**
   * Starts a suspicion raised by `from`, expecting `k` further independent
   * confirmations to reach the `min` timeout (0 means the timeout is `min`).
   */
  constructor(from: string, k: number, minMs: number, maxMs: number, start: number) {
    this.start = start;
    this.#k = Math.max(0, k);
    this.#min = minMs;
    this.#max = Math.max(minMs, maxMs);
    this.#confirmers.add(from);
  }

  /** Independent confirmations so far (the first accuser not counted). */
  get confirmations(): number {
    return this.#confirmers.size - 1;
  }

  /** Records a confirmation by `from`; true if it is new (and so worth re-gossiping). */
  confirm(from: string): boolean {
    if (this.#confirmers.size - 1 >= this.#k || this.#confirmers.has(from)) return false;
    this.#confirmers.add(from);
    return true;
  }

  /** The total timeout in ms given the confirmations so far. */
  timeoutMs(): number {
    return suspicionTimeoutMs(this.confirmations, this.#k, this.#min, this.#max);
  }

  /** Local time at which the member is declared dead. */
  deadline(): number {
    return this.start + this.timeoutMs();
  }
}

/** Lifeguard's timeout after `c` of `k` expected confirmations, between `min` and `max`. */
export function suspicionTimeoutMs(c: number, k: number, min: number, max: number): number {
  if (k < 1) return min;
  const frac = Math.log(c + 1) / Math.log(k + 1);
  const t = Math.floor(max - frac * (max - min));
  return t < min ? min : t;
}

/** Local health awareness: a score in [0, max]; 0 is healthy. */
export class Awareness {
  #score = 0;
  readonly #max: number;

  /** Creates a healthy score with the given maximum. */
  constructor(max: number) {
    this.#max = max;
  }

  /** The current score. */
  get score(): number {
    return this.#score;
  }

  /** Adds `delta` (negative lowers), clamped to [0, max]. */
  apply(delta: number): void {
    this.#score = Math.min(this.#max, Math.max(0, this.#score + delta));
  }

  /** `ms` scaled by the health multiplier (1 + score). */
  scale(ms: number): number {
    return ms * (1 + this.#score);
  }
}
