/**
 * The deterministic simulator: one seeded PRNG, a virtual clock and an event
 * queue drive every simulated node, network link and disk. Invariants are
 * checked after every event; a violation raises {@link SimulationFailure}
 * carrying the seed that replays it exactly.
 *
 * @module
 */
import { EventQueue } from "./event_queue.ts";
import { Prng } from "./prng.ts";
import { TraceHasher } from "./trace.ts";

/** A check run after every event: return a message (or throw) to report a violation. */
export type Invariant = () => string | undefined | void;

/** Handle of a scheduled event, for {@link Simulator.cancel}. */
export interface EventHandle {
  /** Set when cancelled; the event is skipped when popped. */
  cancelled: boolean;
}

interface SimEvent extends EventHandle {
  label: string;
  run: () => void;
  owner?: string;
  epoch: number;
}

/** Raised when an invariant fails; says how to replay the run. */
export class SimulationFailure extends Error {
  /** The seed of the failing run. */
  readonly seed: number;
  /** Events executed before the violation was seen. */
  readonly step: number;
  /** Virtual time of the violation, in ms. */
  readonly time: number;
  /** Name of the violated invariant. */
  readonly invariant: string;
  /** The last trace lines before the violation. */
  readonly tail: string[];

  /** Creates the failure report. */
  constructor(
    seed: number,
    step: number,
    time: number,
    invariant: string,
    detail: string,
    tail: string[],
  ) {
    super(
      `invariant "${invariant}" violated at step ${step} (t=${time}ms), seed ${seed}: ${detail}\n` +
        `replay with: deno task sim --seed ${seed} --steps ${step}\n` +
        `last events:\n  ${tail.slice(-15).join("\n  ")}`,
    );
    this.name = "SimulationFailure";
    this.seed = seed;
    this.step = step;
    this.time = time;
    this.invariant = invariant;
    this.tail = tail;
  }
}

/** Options of a {@link Simulator}. */
export interface SimulatorOptions {
  /** The seed; everything random derives from it. */
  seed: number;
  /** How many recent trace lines a failure report keeps. */
  traceTail?: number;
}

/** Drives simulated nodes deterministically from one seed. */
export class Simulator {
  /** The seed of this run. */
  readonly seed: number;
  /** The single source of randomness for this run. */
  readonly prng: Prng;
  #now = 0;
  #steps = 0;
  #queue = new EventQueue<SimEvent>();
  #trace: TraceHasher;
  #invariants: { name: string; fn: Invariant }[] = [];
  #nodes = new Map<string, { up: boolean; epoch: number }>();
  #crashListeners: ((id: string) => void)[] = [];
  #restartListeners: ((id: string) => void)[] = [];

  /** Creates a simulator for one seed. */
  constructor(opts: SimulatorOptions) {
    this.seed = opts.seed >>> 0;
    this.prng = new Prng(this.seed);
    this.#trace = new TraceHasher(opts.traceTail ?? 200);
  }

  /** Virtual time in milliseconds. */
  get now(): number {
    return this.#now;
  }

  /** Events executed so far. */
  get steps(): number {
    return this.#steps;
  }

  /** Events waiting in the queue. */
  get pending(): number {
    return this.#queue.size;
  }

  /** Hash of the trace so far: equal for equal seeds. */
  get traceHash(): string {
    return this.#trace.hash;
  }

  /** Adds a line to the trace (hashed, and kept for failure reports). */
  trace(line: string): void {
    this.#trace.add(`${this.#now} ${line}`);
  }

  /** Registers a node as up. */
  addNode(id: string): void {
    if (this.#nodes.has(id)) throw new Error(`node ${id} added twice`);
    this.#nodes.set(id, { up: true, epoch: 0 });
  }

  /** Ids of all nodes, in the order they were added. */
  nodeIds(): string[] {
    return [...this.#nodes.keys()];
  }

  /** True if `id` exists and has not crashed (or has restarted). */
  isUp(id: string): boolean {
    return this.#nodes.get(id)?.up ?? false;
  }

  /** Incarnation counter of `id`: bumps on every crash. */
  epoch(id: string): number {
    return this.#nodes.get(id)?.epoch ?? -1;
  }

  /** Calls `fn(id)` whenever a node crashes (disks drop unsynced writes here). */
  onCrash(fn: (id: string) => void): void {
    this.#crashListeners.push(fn);
  }

  /** Calls `fn(id)` whenever a node restarts (rebuild its core from its disk here). */
  onRestart(fn: (id: string) => void): void {
    this.#restartListeners.push(fn);
  }

  /** Crashes `id`: its timers die with it and listeners run. */
  crash(id: string): void {
    const n = this.#nodes.get(id);
    if (!n || !n.up) return;
    n.up = false;
    n.epoch++;
    this.trace(`crash ${id}`);
    for (const fn of this.#crashListeners) fn(id);
  }

  /** Restarts a crashed node. */
  restart(id: string): void {
    const n = this.#nodes.get(id);
    if (!n || n.up) return;
    n.up = true;
    this.trace(`restart ${id}`);
    for (const fn of this.#restartListeners) fn(id);
  }

  /**
   * Runs `fn` after `delayMs` of virtual time. With `owner`, the event is
   * dropped if that node crashes first (its timers die with the process).
   */
  schedule(delayMs: number, label: string, fn: () => void, owner?: string): EventHandle {
    if (!(delayMs >= 0)) throw new RangeError(`negative or NaN delay ${delayMs} for ${label}`);
    const ev: SimEvent = {
      cancelled: false,
      label,
      run: fn,
      owner,
      epoch: owner === undefined ? 0 : this.epoch(owner),
    };
    this.#queue.push(this.#now + delayMs, ev);
    return ev;
  }

  /** Cancels a scheduled event. */
  cancel(handle: EventHandle): void {
    handle.cancelled = true;
  }

  /** Adds an invariant checked after every event. */
  invariant(name: string, fn: Invariant): void {
    this.#invariants.push({ name, fn });
  }

  /** Checks every invariant now; throws {@link SimulationFailure} on the first violation. */
  checkInvariants(): void {
    for (const { name, fn } of this.#invariants) {
      let detail: string | undefined | void;
      try {
        detail = fn();
      } catch (e) {
        detail = e instanceof Error ? e.message : String(e);
      }
      if (detail) this.fail(name, detail);
    }
  }

  /** Reports a violation found outside the invariant hooks (e.g. by a final check). */
  fail(invariant: string, detail: string): never {
    throw new SimulationFailure(
      this.seed,
      this.#steps,
      this.#now,
      invariant,
      detail,
      this.#trace.tail(),
    );
  }

  /** Executes the next event. Returns false when the queue is empty. */
  step(): boolean {
    for (;;) {
      const ev = this.#queue.pop();
      if (!ev) return false;
      const e = ev.value;
      if (e.cancelled) continue;
      if (e.owner !== undefined) {
        const n = this.#nodes.get(e.owner);
        if (!n || !n.up || n.epoch !== e.epoch) continue;
      }
      this.#now = ev.at;
      this.#steps++;
      this.#trace.add(`${this.#now} ${e.label}`);
      e.run();
      this.checkInvariants();
      return true;
    }
  }

  /** Runs until `maxSteps` events ran, virtual time passes `untilMs`, or nothing is left. */
  run(opts: { maxSteps?: number; untilMs?: number } = {}): void {
    const maxSteps = opts.maxSteps ?? Infinity;
    const until = opts.untilMs ?? Infinity;
    let n = 0;
    while (n < maxSteps) {
      const next = this.#queue.peek();
      if (!next || next.at > until) break;
      if (!this.step()) break;
      n++;
    }
    if (opts.untilMs !== undefined && this.#now < until && n < maxSteps) this.#now = until;
  }
}
