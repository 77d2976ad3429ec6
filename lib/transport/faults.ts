/**
 * Fault injection for the real transport: per peer, at runtime, drop,
 * delay (with jitter), duplicate or cut the traffic between this node and
 * that peer. RPC frames and gossip datagrams both pass through it.
 *
 * ```ts
 * faults.set("m2", { drop: 0.1, delayMs: 50, jitterMs: 10, duplicate: 0.01 });
 * faults.set("m3", { cut: true });        // both directions
 * faults.set("m3", { cut: "out" });       // only what we send to m3
 * faults.clear("m3"); faults.clear();     // heal one / all
 * ```
 *
 * Randomness and timers are injected, so tests can make it deterministic.
 * Delays keep the order of frames to one peer (a stream transport never
 * reorders), so delay models latency, not reordering.
 *
 * @module
 */

/** What to do to traffic with one peer. */
export interface FaultSpec {
  /** Probability in [0,1] that an outgoing frame/datagram is dropped. */
  drop?: number;
  /** Extra latency added to outgoing traffic, in ms. */
  delayMs?: number;
  /** Uniform jitter added on top of `delayMs`, in ms. */
  jitterMs?: number;
  /** Probability in [0,1] that an outgoing frame/datagram is sent twice. */
  duplicate?: number;
  /** Cut the link: `true`/"both" both directions, "out" only sending, "in" only receiving. */
  cut?: boolean | "both" | "in" | "out";
}

/** The fate of one outgoing unit. */
export interface OutboundDecision {
  /** How many copies to send: 0 (dropped or cut), 1, or 2 (duplicated). */
  copies: number;
  /** Delay before sending, in ms (0 = now). */
  delayMs: number;
}

const PASS: OutboundDecision = { copies: 1, delayMs: 0 };

/** Injected effects of a {@link FaultInjector}. */
export interface FaultEnv {
  /** Uniform random number in [0,1). */
  random(): number;
  /** Current time in ms. */
  now(): number;
  /** Schedules `fn` after `ms`. */
  setTimer(fn: () => void, ms: number): void;
}

const REAL_ENV: FaultEnv = {
  random: Math.random,
  now: () => performance.now(),
  setTimer: (fn, ms) => void setTimeout(fn, ms),
};

/** See the module documentation. */
export class FaultInjector {
  readonly #specs = new Map<string, FaultSpec>();
  readonly #lastDue = new Map<string, number>();
  readonly #env: FaultEnv;
  /** Units dropped (random drop or cut), by direction. */
  dropped = { in: 0, out: 0 };
  /** Extra copies sent. */
  duplicated = 0;
  /** Units delayed. */
  delayed = 0;

  /** Creates an injector with real randomness and timers unless `env` is given. */
  constructor(env: Partial<FaultEnv> = {}) {
    this.#env = { ...REAL_ENV, ...env };
  }

  /** Sets (replaces) the faults for traffic with `peer`. */
  set(peer: string, spec: FaultSpec): void {
    for (const k of ["drop", "duplicate"] as const) {
      const p = spec[k];
      if (p !== undefined && !(p >= 0 && p <= 1)) {
        throw new RangeError(`faults.${k} must be a probability in [0,1], got ${p}`);
      }
    }
    for (const k of ["delayMs", "jitterMs"] as const) {
      const v = spec[k];
      if (v !== undefined && !(v >= 0 && Number.isFinite(v))) {
        throw new RangeError(`faults.${k} must be a non-negative number of ms, got ${v}`);
      }
    }
    this.#specs.set(peer, { ...spec });
  }

  /** Removes the faults of `peer`, or of every peer when omitted. */
  clear(peer?: string): void {
    if (peer === undefined) {
      this.#specs.clear();
      this.#lastDue.clear();
    } else {
      this.#specs.delete(peer);
      this.#lastDue.delete(peer);
    }
  }

  /** The faults in force for `peer`, if any. */
  get(peer: string): FaultSpec | undefined {
    return this.#specs.get(peer);
  }

  /** Whether any fault is configured (lets the hot path skip the injector). */
  get active(): boolean {
    return this.#specs.size > 0;
  }

  /** Whether traffic from `peer` must be discarded on arrival (counted). */
  dropInbound(peer: string): boolean {
    const s = this.#specs.get(peer);
    if (!s) return false;
    const cut = s.cut === true || s.cut === "both" || s.cut === "in";
    if (cut) this.dropped.in++;
    return cut;
  }

  /** Decides the fate of one outgoing unit to `peer`. */
  outbound(peer: string): OutboundDecision {
    const s = this.#specs.get(peer);
    if (!s) return PASS;
    if (s.cut === true || s.cut === "both" || s.cut === "out") {
      this.dropped.out++;
      return { copies: 0, delayMs: 0 };
    }
    const env = this.#env;
    if (s.drop && env.random() < s.drop) {
      this.dropped.out++;
      return { copies: 0, delayMs: 0 };
    }
    let copies = 1;
    if (s.duplicate && env.random() < s.duplicate) {
      copies = 2;
      this.duplicated++;
    }
    let delayMs = 0;
    if (s.delayMs || s.jitterMs) {
      const now = env.now();
      let due = now + (s.delayMs ?? 0) + (s.jitterMs ? env.random() * s.jitterMs : 0);
      due = Math.max(due, this.#lastDue.get(peer) ?? 0);
      this.#lastDue.set(peer, due);
      delayMs = due - now;
      this.delayed++;
    }
    return { copies, delayMs };
  }

  /**
   * Sends through the injector: `send` runs 0, 1 or 2 times, now or after
   * the delay. Resolves when the unit was handed on (at once when dropped
   * or delayed; delayed sends report their failures nowhere, like a lossy
   * network).
   */
  async apply(peer: string, send: () => Promise<void>): Promise<void> {
    const d = this.outbound(peer);
    if (d.copies === 0) return;
    if (d.delayMs > 0) {
      this.#env.setTimer(() => {
        for (let i = 0; i < d.copies; i++) send().catch(() => {});
      }, d.delayMs);
      return;
    }
    await send();
    if (d.copies === 2) await send();
  }
}
