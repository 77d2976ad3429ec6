/**
 * The predecessor pointer of a ring node and Zave's rectify rule: a notifier
 * replaces the predecessor when it is closer, or when the predecessor is dead
 * (suspected, or silent and then unanswering when probed).
 *
 * @module
 */
import { inOpen } from "./id.ts";
import type { Peer } from "./fingers.ts";

/** What to do about a notify. */
export type RectifyDecision = "adopt" | "probe" | "keep";

/** A node's predecessor, when it was last heard from, and the probe state. */
export class Predecessor {
  readonly #self: Peer;
  readonly #quietTicks: number;
  #peer: Peer | null = null;
  #heard = 0;
  #candidate: Peer | null = null;
  #probing = false;

  /** Tracks the predecessor of `self`; silence of `quietTicks` ticks triggers a probe. */
  constructor(self: Peer, quietTicks: number) {
    this.#self = self;
    this.#quietTicks = quietTicks;
  }

  /** The predecessor, or null if unknown. */
  get peer(): Peer | null {
    return this.#peer;
  }

  /** Sets the predecessor (heard from at tick `now`). */
  set(p: Peer | null, now: number): void {
    this.#peer = p;
    this.#heard = now;
    this.#candidate = null;
  }

  /** A message from `id` arrived at tick `now`. */
  heardFrom(id: string, now: number): void {
    if (this.#peer?.id === id) this.#heard = now;
  }

  /**
   * Zave's rectify on a notify from `c`: adopt `c` if there is no
   * predecessor, if `c` is closer, or if the predecessor is suspected dead;
   * probe a predecessor silent for too long (adopting `c` if the probe
   * fails); otherwise keep it.
   */
  rectify(c: Peer, now: number, suspect: (id: string) => boolean): RectifyDecision {
    const p = this.#peer;
    if (p === null || suspect(p.id) || inOpen(c.rid, p.rid, this.#self.rid)) return "adopt";
    if (p.id === c.id || now - this.#heard < this.#quietTicks) return "keep";
    this.#candidate = c;
    return "probe";
  }

  /** The predecessor to probe now (silent too long, no probe out), marking a probe as out. */
  startProbe(now: number): Peer | null {
    const p = this.#peer;
    if (p === null || this.#probing || now - this.#heard < this.#quietTicks) return null;
    this.#probing = true;
    return p;
  }

  /** The probe was answered: the predecessor is alive. */
  probeAnswered(): void {
    this.#probing = false;
  }

  /**
   * The probe of `to` went unanswered: the predecessor is dead. It is replaced
   * by the latest notifier still believed alive, or cleared. Returns true if
   * the predecessor changed.
   */
  probeFailed(to: Peer, now: number, suspect: (id: string) => boolean): boolean {
    this.#probing = false;
    if (this.#peer?.id !== to.id) return false;
    const c = this.#candidate;
    this.set(c && c.id !== to.id && !suspect(c.id) ? c : null, now);
    return true;
  }
}
