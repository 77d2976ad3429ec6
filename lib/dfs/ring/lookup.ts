/**
 * Iterative Chord lookups as a state machine: the initiator asks one node at
 * a time for the key's successor or a closer node, counts hops, and routes
 * around nodes that do not answer. Messages and results go through callbacks
 * supplied by the ring core, so this stays free of I/O.
 *
 * @module
 */
import { RING_BITS, type RingId } from "./id.ts";
import { MAX_LOOKUP_AVOID } from "../../../proto/dfs_ring.ts";
import { type Peer, peerOf } from "./fingers.ts";

/** The result of a lookup, delivered as an effect of the ring core. */
export type LookupResult =
  | {
    /** Tag. */
    kind: "lookup";
    /** Id returned when the lookup started. */
    lookup: number;
    /** The key looked up. */
    key: RingId;
    /** True when found. */
    ok: true;
    /** The key's successor. */
    owner: string;
    /** The owner followed by its successors: the replica candidates. */
    replicas: string[];
    /** Remote queries it took. */
    hops: number;
  }
  | {
    /** Tag. */
    kind: "lookup";
    /** Id returned when the lookup started. */
    lookup: number;
    /** The key looked up. */
    key: RingId;
    /** False: not found. */
    ok: false;
    /** Why it failed. */
    reason: string;
    /** Remote queries it took. */
    hops: number;
  };

/** Why a lookup runs: for a caller, to refresh a finger, or to join the ring. */
export type LookupPurpose =
  | { kind: "user" }
  | { kind: "finger"; index: number }
  | { kind: "join" };

/** What the engine needs from the ring core. */
export interface LookupIo {
  /**
   * Sends a find request for `key` to `to` on behalf of lookup `lookup`, asking it to route
   * around `avoid` (nodes this lookup found unreachable).
   */
  send(lookup: number, to: Peer, key: RingId, avoid: readonly string[]): void;
  /** One lookup step with local knowledge, skipping `excluded` nodes. */
  local(key: RingId, excluded: ReadonlySet<string>): { done: Peer[] } | { next: Peer };
  /** Delivers a finished lookup. */
  finish(lookup: number, purpose: LookupPurpose, result: LookupResult): void;
  /** Most lookups in flight. */
  maxLookups: number;
}

interface LookupState {
  id: number;
  key: RingId;
  purpose: LookupPurpose;
  hops: number;
  excluded: Set<string>;
}

/** Upper bound on the queries of one lookup before it gives up. */
export const MAX_LOOKUP_HOPS = 2 * RING_BITS;

/** Runs every iterative lookup of one node. */
export class LookupEngine {
  readonly #self: Peer;
  readonly #io: LookupIo;
  #seq = 0;
  #active = new Map<number, LookupState>();
  #fingerBusy = new Set<number>();

  /** Creates the engine of node `self`. */
  constructor(self: Peer, io: LookupIo) {
    this.#self = self;
    this.#io = io;
  }

  /** Lookups in flight. */
  get active(): number {
    return this.#active.size;
  }

  /** True if a lookup refreshing finger `i` is in flight. */
  hasFinger(i: number): boolean {
    return this.#fingerBusy.has(i);
  }

  /**
   * Starts a lookup of `key`. With `via`, the first query goes to `via`
   * (a joining node has no useful local state); otherwise local knowledge
   * decides the first step. Returns the lookup id.
   */
  start(key: RingId, purpose: LookupPurpose, via: Peer | null): number {
    const id = ++this.#seq;
    const st: LookupState = { id, key, purpose, hops: 0, excluded: new Set() };
    if (purpose.kind === "user" && this.#active.size >= this.#io.maxLookups) {
      this.#io.finish(id, purpose, {
        kind: "lookup",
        lookup: id,
        key,
        ok: false,
        reason: `too many lookups in flight (${this.#io.maxLookups})`,
        hops: 0,
      });
      return id;
    }
    this.#active.set(id, st);
    if (purpose.kind === "finger") this.#fingerBusy.add(purpose.index);
    if (via !== null) this.#ask(st, via);
    else this.#advance(st);
    return id;
  }

  /** A queried node answered with the key's successor list. */
  onDone(lookup: number, from: Peer, succs: readonly string[]): void {
    const st = this.#active.get(lookup);
    if (st === undefined) return;
    if (succs.length === 0) {
      st.excluded.add(from.id);
      this.#advance(st);
      return;
    }
    this.#complete(st, succs);
  }

  /** A queried node named a closer node to ask next. */
  onNext(lookup: number, from: Peer, next: string | null): void {
    const st = this.#active.get(lookup);
    if (st === undefined) return;
    if (next === null || next === from.id || st.excluded.has(next)) {
      st.excluded.add(from.id);
      this.#advance(st);
      return;
    }
    if (next === this.#self.id) {
      // The answer is near us: continue with local knowledge, never back to `from`.
      st.excluded.add(from.id);
      this.#advance(st);
      return;
    }
    this.#ask(st, peerOf(next));
  }

  /** A queried node did not answer in time: route around it. */
  onTimeout(lookup: number, to: Peer): void {
    const st = this.#active.get(lookup);
    if (st === undefined) return;
    st.excluded.add(to.id);
    this.#advance(st);
  }

  #advance(st: LookupState): void {
    const r = this.#io.local(st.key, st.excluded);
    if ("done" in r) {
      if (r.done.length === 0) this.#fail(st, "no live node knows the key's successor");
      else this.#complete(st, r.done.map((p) => p.id));
      return;
    }
    this.#ask(st, r.next);
  }

  #ask(st: LookupState, to: Peer): void {
    if (st.hops >= MAX_LOOKUP_HOPS) {
      this.#fail(st, `no answer after ${st.hops} hops`);
      return;
    }
    st.hops++;
    this.#io.send(st.id, to, st.key, [...st.excluded].slice(-MAX_LOOKUP_AVOID));
  }

  #complete(st: LookupState, succs: readonly string[]): void {
    this.#end(st);
    this.#io.finish(st.id, st.purpose, {
      kind: "lookup",
      lookup: st.id,
      key: st.key,
      ok: true,
      owner: succs[0],
      replicas: [...succs],
      hops: st.hops,
    });
  }

  #fail(st: LookupState, reason: string): void {
    this.#end(st);
    this.#io.finish(st.id, st.purpose, {
      kind: "lookup",
      lookup: st.id,
      key: st.key,
      ok: false,
      reason,
      hops: st.hops,
    });
  }

  #end(st: LookupState): void {
    this.#active.delete(st.id);
    if (st.purpose.kind === "finger") this.#fingerBusy.delete(st.purpose.index);
  }
}
