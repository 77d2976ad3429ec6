/**
 * Decisions a ring node makes from its local view alone (no messages): one
 * lookup step, the replica set of a key, and ownership of a key.
 *
 * @module
 */
import { inOpenClosed, type RingId } from "./id.ts";
import { type FingerTable, nearestAtOrAfter, type Peer, peerOf } from "./fingers.ts";

/** What a node knows about the ring around it. */
export interface LocalView {
  /** This node. */
  self: Peer;
  /** Its predecessor, or null. */
  pred: Peer | null;
  /** Its successor list, nearest first. */
  succs: readonly Peer[];
  /** Its finger table. */
  fingers: FingerTable;
}

/** The outcome of one lookup step: the key's successor list, or the next node to ask. */
export type StepResult = { done: Peer[] } | { next: Peer };

/**
 * One iterative-lookup step: if the key falls in `(pred, self]` this node
 * owns it; if in `(self, successor]` and the successor is usable, the
 * successor does; otherwise the closest preceding usable node is the next to
 * ask. With none, the answer is the successor list from its first usable
 * entry at or after the key (unusable entries are left out), and empty when
 * the list does not reach the key: this node does not know the key's
 * successor (naming its own successors would name the wrong owner).
 */
export function lookupStep(v: LocalView, key: RingId, usable: (p: Peer) => boolean): StepResult {
  if (v.pred && inOpenClosed(key, v.pred.rid, v.self.rid)) return { done: [v.self, ...v.succs] };
  const s = v.succs[0];
  if (s === undefined) return { done: [v.self] };
  if (inOpenClosed(key, v.self.rid, s.rid) && usable(s)) return { done: [...v.succs] };
  const next = v.fingers.closestPreceding(key, [...v.succs, v.pred], usable);
  if (next) return { next };
  const i = v.succs.findIndex((p) => inOpenClosed(key, v.self.rid, p.rid));
  return { done: i < 0 ? [] : v.succs.slice(i).filter(usable) };
}

/**
 * The `rf` successors of `key` from the local view: exact when the key falls
 * in `(pred, self]` or within the successor list, otherwise the nearest
 * known nodes at or after the key.
 */
export function localReplicas(v: LocalView, key: RingId, rf: number): string[] {
  const self = v.self.rid;
  if (v.pred && inOpenClosed(key, v.pred.rid, self)) {
    return [v.self.id, ...v.succs.map((p) => p.id)].slice(0, rf);
  }
  const last = v.succs[v.succs.length - 1];
  if (last !== undefined && inOpenClosed(key, self, last.rid)) {
    const i = v.succs.findIndex((p) => inOpenClosed(key, self, p.rid));
    if (v.succs.length - i >= rf) return v.succs.slice(i, i + rf).map((p) => p.id);
  }
  const known: Peer[] = [v.self, ...v.succs];
  if (v.pred) known.push(v.pred);
  for (const id of v.fingers.ids()) if (id) known.push(peerOf(id));
  return nearestAtOrAfter(key, known, rf);
}
