/**
 * A model of DFS block placement on the ring, for the simulation: blocks are
 * keys stored on the RF successors of the key, written through a lookup and
 * acknowledged once every replica stored them; repair re-replicates when
 * replica sets change (the owner pushes to its successors, other holders
 * hand blocks towards the owner they know). Checks: no acknowledged block
 * ever loses its last live holder, and replica sets converge back to RF.
 *
 * @module
 */
import { type RingId, ringIdFromHex, ringIdToHex } from "./id.ts";
import type { RingCluster, SimWire } from "./cluster.ts";
import { trueSuccessors } from "./invariants.ts";

/** Counters of the placement model. */
export interface PlacementStats {
  /** Writes started. */
  writes: number;
  /** Writes acknowledged (stored on RF replicas). */
  acked: number;
  /** Writes that did not complete in time (not acknowledged, not tracked). */
  unacked: number;
  /** Copies sent by repair. */
  repairs: number;
  /** Surplus copies dropped after the owner confirmed the full replica set. */
  dropped: number;
}

/** The result of {@link PlacementModel.check}. */
export interface PlacementCheck {
  /** Acknowledged blocks. */
  blocks: number;
  /** Blocks with no live holder (data loss). */
  lost: string[];
  /** Blocks some member of whose true replica set does not hold them. */
  underReplicated: number;
  /** Copies held outside the true replica sets (left for garbage collection). */
  extraCopies: number;
}

interface PendingWrite {
  key: string;
  waiting: Set<string>;
  replicas: string[];
}

/** Blocks, their holders and the repair process. */
export class PlacementModel {
  readonly #cluster: RingCluster;
  readonly #rf: number;
  readonly #stores = new Map<string, Set<string>>();
  readonly #acked = new Map<string, RingId>();
  readonly #writes = new Map<string, PendingWrite>();
  /** Per holder: `key|target` pairs whose copy was confirmed since the last neighbour change. */
  readonly #confirmed = new Map<string, Set<string>>();
  /** What happened so far. */
  readonly stats: PlacementStats = { writes: 0, acked: 0, unacked: 0, repairs: 0, dropped: 0 };

  /** Creates the model for replication factor `rf`. */
  constructor(cluster: RingCluster, rf: number) {
    this.#cluster = cluster;
    this.#rf = rf;
  }

  /** Number of acknowledged blocks. */
  get ackedBlocks(): number {
    return this.#acked.size;
  }

  #store(id: string): Set<string> {
    let s = this.#stores.get(id);
    if (!s) {
      s = new Set();
      this.#stores.set(id, s);
    }
    return s;
  }

  /** Writes block `key` from `client`; it counts once all RF replicas acknowledged. */
  write(client: string, key: RingId, timeoutMs: number): void {
    this.stats.writes++;
    const hex = ringIdToHex(key);
    this.#cluster.lookup(client, key, (r) => {
      if (!r.ok || r.replicas.length < this.#rf) {
        this.stats.unacked++;
        return;
      }
      const replicas = r.replicas.slice(0, this.#rf);
      const w: PendingWrite = { key: hex, waiting: new Set(replicas), replicas };
      this.#writes.set(`${client}|${hex}`, w);
      for (const t of replicas) this.#cluster.sendData(client, t, { data: "put", key: hex });
      this.#cluster.sim.schedule(timeoutMs, `write timeout ${hex}`, () => {
        if (this.#writes.delete(`${client}|${hex}`)) this.stats.unacked++;
      });
    });
  }

  /** Handles a data-layer message delivered to `to`. */
  onData(to: string, from: string, msg: Extract<SimWire, { data: string }>): void {
    if (msg.data === "put") {
      this.#store(to).add(msg.key);
      const reply = this.#surplus(to, from, msg.key) ? "drop" : "put_ack";
      this.#cluster.sendData(to, from, { data: reply, key: msg.key });
      return;
    }
    if (msg.data === "drop") {
      if (this.#store(to).delete(msg.key)) this.stats.dropped++;
      return;
    }
    const wk = `${to}|${msg.key}`;
    const w = this.#writes.get(wk);
    if (w && w.waiting.delete(from) && w.waiting.size === 0) {
      this.#writes.delete(wk);
      this.#acked.set(msg.key, ringIdFromHex(msg.key));
      this.stats.acked++;
    }
    this.#confirmedOf(to).add(`${msg.key}|${from}`);
  }

  /**
   * True if `owner` owns `key`, every member of its replica set confirmed a
   * copy, and `holder` is not in that set: the holder's copy is surplus.
   */
  #surplus(owner: string, holder: string, key: string): boolean {
    const core = this.#cluster.core(owner);
    const k = ringIdFromHex(key);
    if (!core.owns(k)) return false;
    const set = core.replicasFor(k, this.#rf);
    if (set.length < this.#rf || set.includes(holder)) return false;
    const done = this.#confirmedOf(owner);
    return set.every((t) => t === owner || done.has(`${key}|${t}`));
  }

  #confirmedOf(id: string): Set<string> {
    let s = this.#confirmed.get(id);
    if (!s) {
      s = new Set();
      this.#confirmed.set(id, s);
    }
    return s;
  }

  /** A node's neighbours changed: its replica sets must be re-confirmed. */
  onNeighbors(id: string): void {
    this.#confirmed.get(id)?.clear();
  }

  /** A node crashed: its copies are gone (worst case: the disk is lost too). */
  onCrash(id: string): string[] {
    this.#stores.delete(id);
    this.#confirmed.delete(id);
    return this.check(null).lost;
  }

  /** One repair round at every reachable member. */
  repair(): void {
    for (const h of this.#cluster.members()) {
      const store = this.#stores.get(h);
      if (!store || store.size === 0) continue;
      const core = this.#cluster.core(h);
      const done = this.#confirmedOf(h);
      for (const hex of store) {
        const key = ringIdFromHex(hex);
        let targets: string[];
        if (core.owns(key)) {
          targets = core.replicasFor(key, this.#rf).filter((t) => t !== h);
          if (targets.length === this.#rf - 1 && targets.every((t) => done.has(`${hex}|${t}`))) {
            // The replica set is confirmed: successors beyond it drop stale copies.
            for (const t of core.successors().slice(this.#rf - 1)) {
              const mark = `${hex}|drop ${t}`;
              if (done.has(mark)) continue;
              done.add(mark);
              this.#cluster.sendData(h, t, { data: "drop", key: hex });
            }
          }
        } else {
          const guess = core.replicasFor(key, 1)[0];
          const pred = core.predecessor();
          const to = guess !== undefined && guess !== h ? guess : pred;
          targets = to === null ? [] : [to];
        }
        for (const t of targets) {
          if (done.has(`${hex}|${t}`)) continue;
          this.stats.repairs++;
          this.#cluster.sendData(h, t, { data: "put", key: hex });
        }
      }
    }
  }

  /**
   * Checks every acknowledged block: it must have a live holder; with
   * `sortedMembers`, also counts blocks whose true replica set (the first RF
   * members at or after the key) does not hold them all.
   */
  check(sortedMembers: readonly string[] | null): PlacementCheck {
    const sim = this.#cluster.sim;
    const lost: string[] = [];
    let under = 0;
    let extra = 0;
    const holders = new Map<string, string[]>();
    for (const [id, store] of this.#stores) {
      if (!sim.isUp(id)) continue;
      for (const k of store) {
        const h = holders.get(k);
        if (h) h.push(id);
        else holders.set(k, [id]);
      }
    }
    for (const [hex, key] of this.#acked) {
      const h = holders.get(hex) ?? [];
      if (h.length === 0) lost.push(hex);
      if (sortedMembers === null) continue;
      const want = trueSuccessors(sortedMembers, key, this.#rf);
      if (want.some((t) => !this.#stores.get(t)?.has(hex))) under++;
      extra += h.filter((x) => !want.includes(x)).length;
    }
    return { blocks: this.#acked.size, lost, underReplicated: under, extraCopies: extra };
  }
}
