/**
 * A simulated network between simulated nodes: per-link latency
 * distributions, loss, duplication, reordering (from latency jitter) and
 * partitions that cut exactly the chosen links until healed.
 *
 * @module
 */
import type { Prng } from "./prng.ts";
import type { Simulator } from "./simulator.ts";

/** Behaviour of one directed link. */
export interface LinkConfig {
  /** Smallest one-way latency in ms. */
  minLatencyMs: number;
  /** Largest one-way latency in ms; jitter between min and max reorders messages. */
  maxLatencyMs: number;
  /** Probability a message is lost. */
  loss: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Optional custom latency distribution; overrides min/max when set. */
  latency?: (prng: Prng) => number;
}

/** Counters of what happened to messages. */
export interface NetworkStats {
  /** Messages handed to {@link SimNetwork.send}. */
  sent: number;
  /** Messages delivered (duplicates included). */
  delivered: number;
  /** Dropped by random loss. */
  lost: number;
  /** Dropped because the link was cut (at send or delivery time). */
  cut: number;
  /** Dropped because the destination was down at delivery time. */
  down: number;
  /** Extra copies delivered. */
  duplicated: number;
}

const DEFAULT_LINK: LinkConfig = { minLatencyMs: 1, maxLatencyMs: 5, loss: 0, duplicate: 0 };

/** A network carrying messages of type `M` between nodes of a {@link Simulator}. */
export class SimNetwork<M> {
  readonly #sim: Simulator;
  readonly #deliver: (to: string, from: string, msg: M) => void;
  readonly #describe: (msg: M) => string;
  #defaults: LinkConfig;
  #links = new Map<string, LinkConfig>();
  #cut = new Set<string>();
  /** What happened to messages so far. */
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, cut: 0, down: 0, duplicated: 0 };

  /**
   * Creates a network. `deliver` is called when a message arrives at an up
   * node; `describe` names a message in the trace.
   */
  constructor(
    sim: Simulator,
    deliver: (to: string, from: string, msg: M) => void,
    opts: { defaults?: Partial<LinkConfig>; describe?: (msg: M) => string } = {},
  ) {
    this.#sim = sim;
    this.#deliver = deliver;
    this.#describe = opts.describe ?? (() => "msg");
    this.#defaults = { ...DEFAULT_LINK, ...opts.defaults };
  }

  /** Changes the configuration of every link without its own. */
  setDefaults(cfg: Partial<LinkConfig>): void {
    this.#defaults = { ...this.#defaults, ...cfg };
  }

  /** Gives the directed link `from → to` its own configuration. */
  setLink(from: string, to: string, cfg: Partial<LinkConfig>): void {
    this.#links.set(key(from, to), { ...this.linkConfig(from, to), ...cfg });
  }

  /** The configuration in force on `from → to`. */
  linkConfig(from: string, to: string): LinkConfig {
    return this.#links.get(key(from, to)) ?? this.#defaults;
  }

  /** Cuts the directed link `from → to`. */
  cut(from: string, to: string): void {
    this.#cut.add(key(from, to));
  }

  /** Cuts every link between a node of `a` and a node of `b`, both directions. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.#cut.add(key(x, y));
        this.#cut.add(key(y, x));
      }
    }
    this.#sim.trace(`partition [${a.join(",")}] | [${b.join(",")}]`);
  }

  /** Cuts `id` off from every other node. */
  isolate(id: string): void {
    this.partition([id], this.#sim.nodeIds().filter((n) => n !== id));
  }

  /** Restores every cut link. */
  heal(): void {
    this.#cut.clear();
    this.#sim.trace("heal");
  }

  /** True if `from → to` is cut. */
  isCut(from: string, to: string): boolean {
    return this.#cut.has(key(from, to));
  }

  /** Sends `msg`; it may be lost, duplicated, delayed or cut according to the link. */
  send(from: string, to: string, msg: M): void {
    this.stats.sent++;
    if (this.#cut.has(key(from, to))) {
      this.stats.cut++;
      return;
    }
    const cfg = this.linkConfig(from, to);
    const prng = this.#sim.prng;
    if (prng.chance(cfg.loss)) {
      this.stats.lost++;
      return;
    }
    const copies = prng.chance(cfg.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = cfg.latency
        ? Math.max(0, cfg.latency(prng))
        : cfg.minLatencyMs + prng.next() * (cfg.maxLatencyMs - cfg.minLatencyMs);
      const label = `deliver ${from}->${to} ${this.#describe(msg)}`;
      this.#sim.schedule(delay, label, () => {
        if (this.#cut.has(key(from, to))) {
          this.stats.cut++;
          return;
        }
        if (!this.#sim.isUp(to)) {
          this.stats.down++;
          return;
        }
        this.stats.delivered++;
        this.#deliver(to, from, msg);
      });
    }
  }
}

function key(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
