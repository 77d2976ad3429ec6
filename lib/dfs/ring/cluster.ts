/**
 * A simulated cluster of ring cores on `lib/sim`: ticks, message delivery
 * over a {@link SimNetwork}, crashes, restarts, isolation, a stand-in for
 * SWIM's liveness hints, and protocol-driven lookups. Used by the ring
 * simulation and by simulation tests.
 *
 * @module
 */
import type { RingMessage } from "../../../proto/dfs_ring.ts";
import { SimNetwork, type Simulator } from "../../sim/mod.ts";
import type { RingId } from "./id.ts";
import { checkRing, type MemberView, type RingCheck, sortByRingId } from "./invariants.ts";
import { type RingConfig, type RingEffect, RingNode } from "./node.ts";
import type { LookupResult } from "./lookup.ts";

/** A message on the simulated wire: ring protocol or data-layer traffic. */
export type SimWire =
  | { ring: RingMessage }
  | { data: "put" | "put_ack" | "drop"; key: string };

/** Options of a {@link RingCluster}. */
export interface RingClusterOptions {
  /** Virtual milliseconds per core tick. */
  tickMs: number;
  /** Core configuration (without `self`). */
  core: Omit<RingConfig, "self">;
  /** Deliver SWIM-style liveness hints (dead / joined) after `hintDelayMs`. */
  swimHints: boolean;
  /** Delay of SWIM hints, in virtual ms. */
  hintDelayMs: number;
  /** Receives data-layer messages. */
  onData?: (to: string, from: string, msg: Extract<SimWire, { data: string }>) => void;
  /** Called when a node's predecessor or successor list changed. */
  onNeighbors?: (id: string) => void;
}

/** Ring cores running inside one {@link Simulator}. */
export class RingCluster {
  /** The simulator driving everything. */
  readonly sim: Simulator;
  /** The simulated network. */
  readonly net: SimNetwork<SimWire>;
  readonly #opts: RingClusterOptions;
  readonly #cores = new Map<string, RingNode>();
  readonly #isolated = new Set<string>();
  readonly #waiting = new Map<string, (r: LookupResult) => void>();
  /** Joins completed (including rejoins). */
  joins = 0;
  /** Times a node lost every successor. */
  aloneEvents = 0;

  /** Creates an empty cluster. */
  constructor(sim: Simulator, opts: RingClusterOptions) {
    this.sim = sim;
    this.#opts = opts;
    this.net = new SimNetwork<SimWire>(sim, (to, from, msg) => this.#deliver(to, from, msg), {
      defaults: { minLatencyMs: 1, maxLatencyMs: 10 },
      describe: (m) => ("ring" in m ? m.ring.type : `data.${m.data}`),
    });
  }

  /** The core of node `id` (throws if unknown). */
  core(id: string): RingNode {
    const c = this.#cores.get(id);
    if (!c) throw new Error(`unknown node ${id}`);
    return c;
  }

  /** Ids of nodes that are up and cut off from nobody. */
  reachable(): string[] {
    return this.sim.nodeIds().filter((id) => this.sim.isUp(id) && !this.#isolated.has(id));
  }

  /** Reachable nodes that are ring members. */
  members(): string[] {
    return this.reachable().filter((id) => this.#cores.get(id)?.status === "member");
  }

  /** Adds node `id` and starts its ticks; it is idle until bootstrapped or joined. */
  add(id: string): RingNode {
    this.sim.addNode(id);
    return this.#boot(id);
  }

  /** Restarts crashed node `id` with a fresh core (its ring state is gone). */
  restart(id: string): RingNode {
    this.sim.restart(id);
    return this.#boot(id);
  }

  #boot(id: string): RingNode {
    const core = new RingNode({ self: id, ...this.#opts.core });
    this.#cores.set(id, core);
    const phase = this.sim.prng.next() * this.#opts.tickMs;
    const tick = () => {
      core.tick();
      this.flush(id);
      this.sim.schedule(this.#opts.tickMs, `tick ${id}`, tick, id);
    };
    this.sim.schedule(phase, `tick ${id}`, tick, id);
    return core;
  }

  /** Makes `id` join through `via` now. */
  join(id: string, via: string): void {
    this.core(id).join(via);
    this.flush(id);
  }

  /** Crashes `id`: its timers die; SWIM reports it dead later if enabled. */
  crash(id: string): void {
    this.sim.crash(id);
    this.#hint(() => {
      if (this.sim.isUp(id)) return;
      for (const m of this.reachable()) this.#call(m, (c) => c.onMemberDead(id));
    });
  }

  /** Cuts `id` off from every other node until {@link heal}. */
  isolate(id: string): void {
    this.#isolated.add(id);
    this.net.isolate(id);
  }

  /** Restores all links; SWIM (if enabled) tells both sides about each other. */
  heal(): void {
    const was = [...this.#isolated];
    this.#isolated.clear();
    this.net.heal();
    this.#hint(() => {
      const others = this.reachable();
      for (const x of was) {
        if (!this.sim.isUp(x)) continue;
        for (const m of others) if (m !== x) this.#call(m, (c) => c.onMemberJoined(x));
        for (let k = 0; k < 3 && others.length > 1; k++) {
          const y = this.sim.prng.pick(others);
          if (y !== x) this.#call(x, (c) => c.onMemberJoined(y));
        }
      }
    });
  }

  /** Tells live members (via SWIM, if enabled) that `id` joined. */
  announce(id: string): void {
    this.#hint(() => {
      if (!this.sim.isUp(id)) return;
      for (const m of this.reachable()) if (m !== id) this.#call(m, (c) => c.onMemberJoined(id));
    });
  }

  #hint(fn: () => void): void {
    if (!this.#opts.swimHints) return;
    this.sim.schedule(this.#opts.hintDelayMs, "swim hint", fn);
  }

  #call(id: string, fn: (c: RingNode) => void): void {
    const c = this.#cores.get(id);
    if (!c || !this.sim.isUp(id)) return;
    fn(c);
    this.flush(id);
  }

  /** Starts a lookup of `key` at `from`; `done` receives the result. */
  lookup(from: string, key: RingId, done: (r: LookupResult) => void): void {
    const core = this.core(from);
    const id = core.lookup(key);
    this.#waiting.set(`${from}/${id}`, done);
    this.flush(from);
  }

  /** Sends a data-layer message. */
  sendData(from: string, to: string, msg: Extract<SimWire, { data: string }>): void {
    this.net.send(from, to, msg);
  }

  /** Carries out the effects node `id` produced. */
  flush(id: string): void {
    const core = this.#cores.get(id);
    if (!core) return;
    const effects: RingEffect[] = core.ready();
    for (const e of effects) {
      switch (e.kind) {
        case "send":
          this.net.send(id, e.to, { ring: e.msg });
          break;
        case "lookup": {
          const k = `${id}/${e.lookup}`;
          const cb = this.#waiting.get(k);
          this.#waiting.delete(k);
          cb?.(e);
          break;
        }
        case "joined":
          this.joins++;
          this.sim.trace(`joined ${id} -> ${e.successor}`);
          break;
        case "neighbors":
          this.#opts.onNeighbors?.(id);
          break;
        case "alone":
          this.aloneEvents++;
          this.sim.trace(`alone ${id}`);
          break;
      }
    }
  }

  #deliver(to: string, from: string, msg: SimWire): void {
    if ("ring" in msg) {
      const core = this.#cores.get(to);
      if (!core) return;
      core.step(from, msg.ring);
      this.flush(to);
    } else {
      this.#opts.onData?.(to, from, msg);
    }
  }

  /** Snapshot of every reachable member's pointers. */
  views(): MemberView[] {
    return this.members().map((id) => {
      const c = this.core(id);
      return { id, successors: c.successors(), predecessor: c.predecessor() };
    });
  }

  /** Runs Zave's checks over the current members. */
  check(): RingCheck {
    return checkRing(this.views(), this.#opts.core.successors ?? 4);
  }

  /** Reachable members sorted by ring id (the truth lookups are compared with). */
  sortedMembers(): string[] {
    return sortByRingId(this.members());
  }
}
