/**
 * Probe target selection: shuffled round-robin over the live members (SWIM's
 * "time-bounded completeness": every live member is probed once per round,
 * so a crashed member is probed by each other member within two rounds).
 * A member that appears mid-round is inserted at a random position of the
 * rest of the round. Reshuffling is O(N) once per N probes.
 *
 * @module
 */
import type { IndexedSet } from "./members.ts";
import type { RandomSource } from "./types.ts";

/** Chooses the next member to probe. */
export class ProbeScheduler {
  #order: string[] = [];
  #index = 0;
  #rounds = 0;

  /** Completed rounds (reshuffles) so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /** The next live member to probe, or undefined when there is none. */
  next(live: IndexedSet, rng: RandomSource): string | undefined {
    let reshuffled = false;
    for (;;) {
      if (this.#index >= this.#order.length) {
        if (reshuffled || live.size === 0) return undefined;
        this.#reshuffle(live, rng);
        reshuffled = true;
        continue;
      }
      const id = this.#order[this.#index++];
      if (live.has(id)) return id;
    }
  }

  /** Inserts a member that just became live at a random point of the rest of this round. */
  added(id: string, rng: RandomSource): void {
    this.#order.push(id);
    const remaining = this.#order.length - this.#index;
    const j = this.#index + rng.int(remaining);
    const last = this.#order.length - 1;
    [this.#order[j], this.#order[last]] = [this.#order[last], this.#order[j]];
  }

  /**
   * Makes `id` the next member probed (moved up if it is still to come this round, else
   * probed once more): a probe of a suspect carries the suspicion to it (Lifeguard's buddy
   * system) and brings its refutation back on the ack, where waiting for its turn could take
   * longer than the suspicion timeout.
   */
  soon(id: string): void {
    const later = this.#order.indexOf(id, this.#index);
    if (later >= 0) this.#order.splice(later, 1);
    this.#order.splice(this.#index, 0, id);
  }

  #reshuffle(live: IndexedSet, rng: RandomSource): void {
    const order = live.toArray();
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    this.#order = order;
    this.#index = 0;
    this.#rounds++;
  }
}
