/**
 * Zave's correctness properties of a Chord network, checked over a snapshot
 * of every member's pointers: AtLeastOneRing / AtMostOneRing, OrderedRing,
 * ConnectedAppendages, OrderedSuccessorLists, and the "fully stabilized"
 * property (every member's successor and predecessor are its true ring
 * neighbours and its successor list is exactly the next live members).
 *
 * A member's best successor is the first live entry of its successor list;
 * the ring is the unique cycle of the best-successor graph; members off the
 * cycle are appendages.
 *
 * @module
 */
import { distance, inOpen, RING_SIZE, type RingId, ringIdOf } from "./id.ts";

/** One member's pointers, as the checks need them. */
export interface MemberView {
  /** Node id. */
  id: string;
  /** Successor list, nearest first. */
  successors: readonly string[];
  /** Predecessor, or null. */
  predecessor: string | null;
}

/** What {@link checkRing} found. */
export interface RingCheck {
  /** Cycles of the best-successor graph (exactly one when correct). */
  rings: number;
  /** Members on the ring. */
  ringSize: number;
  /** Members not on the ring. */
  appendages: number;
  /** Violations of the always-required properties (empty when correct). */
  problems: string[];
  /** True when the network is fully stabilized (see {@link checkRing}). */
  stable: boolean;
  /** Why the network is not (yet) fully stabilized. */
  unstable: string[];
}

function bySortedRid(ids: Iterable<string>): string[] {
  return [...ids].sort((a, b) => {
    const x = ringIdOf(a);
    const y = ringIdOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * Checks Zave's properties over `members` (live nodes that have joined).
 * `problems` lists violations of OneOrderedRing (at least and at most one
 * ring, ordered), ConnectedAppendages and OrderedSuccessorLists; `stable`
 * additionally requires no appendages, correct successor lists (the next
 * `min(r, n - 1)` members) and correct predecessors.
 */
export function checkRing(members: readonly MemberView[], r: number): RingCheck {
  const problems: string[] = [];
  const unstable: string[] = [];
  const byId = new Map(members.map((m) => [m.id, m]));
  const best = new Map<string, string>();
  for (const m of members) {
    best.set(m.id, m.successors.find((s) => byId.has(s)) ?? m.id);
  }

  // OrderedSuccessorLists: entries strictly increasing in distance from the owner.
  for (const m of members) {
    const self = ringIdOf(m.id);
    let last = 0n;
    for (const s of m.successors) {
      const d = distance(self, ringIdOf(s));
      if (d <= last) {
        problems.push(`OrderedSuccessorLists: ${m.id} lists ${s} out of order`);
        break;
      }
      last = d;
    }
  }

  // Cycles of the functional graph `best`.
  const state = new Map<string, number>(); // 1 = on current path, 2 = done
  const onRing = new Set<string>();
  let rings = 0;
  let ringStart = "";
  for (const m of members) {
    if (state.has(m.id)) continue;
    const path: string[] = [];
    let x = m.id;
    while (!state.has(x)) {
      state.set(x, 1);
      path.push(x);
      x = best.get(x)!;
    }
    if (state.get(x) === 1) {
      rings++;
      ringStart = x;
      let y = x;
      do {
        onRing.add(y);
        y = best.get(y)!;
      } while (y !== x);
    }
    for (const p of path) state.set(p, 2);
  }
  if (members.length > 0 && rings !== 1) {
    problems.push(`${rings === 0 ? "AtLeastOneRing" : "AtMostOneRing"}: ${rings} rings`);
  }

  // OrderedRing: walking the ring makes exactly one lap of the identifier space.
  if (rings === 1 && onRing.size > 1) {
    let lap = 0n;
    let y = ringStart;
    do {
      const z = best.get(y)!;
      lap += distance(ringIdOf(y), ringIdOf(z));
      y = z;
    } while (y !== ringStart);
    if (lap !== RING_SIZE) {
      problems.push(`OrderedRing: the ring winds ${Number(lap) / Number(RING_SIZE)} times`);
    }
  }

  // ConnectedAppendages: every appendage reaches the ring and enters it in order.
  if (rings === 1) {
    const ringSorted = bySortedRid(onRing);
    for (const m of members) {
      if (onRing.has(m.id)) continue;
      let x = m.id;
      let steps = 0;
      while (!onRing.has(x) && steps++ <= members.length) x = best.get(x)!;
      const i = ringSorted.indexOf(x);
      const prev = ringSorted[(i - 1 + ringSorted.length) % ringSorted.length];
      const rid: RingId = ringIdOf(m.id);
      if (ringSorted.length > 1 && !inOpen(rid, ringIdOf(prev), ringIdOf(x))) {
        problems.push(`ConnectedAppendages: ${m.id} joins the ring at ${x}, out of order`);
      }
    }
  }

  // Fully stabilized: exact pointers everywhere.
  const appendages = members.length - onRing.size;
  if (appendages > 0) unstable.push(`${appendages} appendages`);
  const sorted = bySortedRid(byId.keys());
  const n = sorted.length;
  for (let i = 0; i < n && unstable.length < 10; i++) {
    const m = byId.get(sorted[i])!;
    const want: string[] = [];
    for (let k = 1; k < n && want.length < r; k++) want.push(sorted[(i + k) % n]);
    if (m.successors.join(",") !== want.join(",")) {
      unstable.push(`${m.id}: successors [${m.successors}] but expected [${want}]`);
    }
    const wantPred = n > 1 ? sorted[(i - 1 + n) % n] : null;
    if (m.predecessor !== wantPred) {
      unstable.push(`${m.id}: predecessor ${m.predecessor} but expected ${wantPred}`);
    }
  }
  return {
    rings,
    ringSize: onRing.size,
    appendages,
    problems,
    stable: problems.length === 0 && unstable.length === 0,
    unstable,
  };
}

/** The true successor of `key` among `sortedIds` (sorted by ring id), or null if empty. */
export function trueSuccessor(sortedIds: readonly string[], key: RingId): string | null {
  return trueSuccessors(sortedIds, key, 1)[0] ?? null;
}

/** The first `k` members at or after `key` on the ring, `sortedIds` sorted by ring id. */
export function trueSuccessors(sortedIds: readonly string[], key: RingId, k: number): string[] {
  const n = sortedIds.length;
  if (n === 0) return [];
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ringIdOf(sortedIds[mid]) < key) lo = mid + 1;
    else hi = mid;
  }
  const out: string[] = [];
  for (let j = 0; j < Math.min(k, n); j++) out.push(sortedIds[(lo + j) % n]);
  return out;
}

/** Node ids sorted by ring id. */
export function sortByRingId(ids: Iterable<string>): string[] {
  return bySortedRid(ids);
}
