/**
 * The reconcile rule of DFS metadata: which of two records of one path wins when replicas,
 * a reloading primary, a reader or anti-entropy see different ones. Confirmed histories
 * win over unconfirmed tails.
 *
 * Every record carries `confirmed`: the order `(version, appendSeq)` of the newest state of
 * its own history that a primary confirmed through the write fence (`write_fence.ts`) after
 * storing it, and then recorded on every replica it stored it on, before acknowledging it
 * (`node_primary.ts`). It is carried unchanged by ops (`applyOp`) and by records that
 * replace a base (a put's commit, a tombstone), so it always names a state of the record's
 * own history, at or before the record itself. A replica only raises it (never lowers it)
 * for a record with the same identity (`meta_head.ts`).
 *
 * Rule ({@link compareRecords}): the record whose `confirmed` is higher wins; at equal
 * `confirmed`, the newer `(version, appendSeq)` wins; at equal both, the records are the same
 * (same identity) or a true conflict (refused by stores, tie-broken by readers as before).
 *
 * Why an acknowledged state X (order `x`) is never displaced. Before X was acknowledged its
 * primary stored X on RF replicas, confirmed through the Raft quorum with a round sent after
 * that, and raised `confirmed` to `x` on each of those replicas (W = all of them). From then
 * on a record with `confirmed >= x` exists on every replica that has not failed, since
 * replicas only replace a record with one that wins under this rule (so `confirmed` never
 * drops on a replica). Any record with `confirmed >= x` contains X: its confirmed state is a
 * state of its own history at order `>= x`; if that history forked from X's before X, two
 * divergent histories would each hold a confirmed state past their fork, which the fence
 * rules out (a primary on the minority side of a cut confirms nothing; two primaries on one
 * side write to overlapping replica sets and the loser sees a conflict), except when all RF
 * replicas of the path were cut off or lost, which is RF failures. A history that forked
 * from X's before X and was never confirmed past the fork has `confirmed` below `x` (at most
 * the fork point), so it loses, however long its unconfirmed tail is.
 *
 * Records written before this field existed have none: they count as confirmed through
 * their own order (what acknowledged them then), so old data never loses to a new
 * unconfirmed tail; a primary that builds on such a record stamps that order explicitly.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

/** A position in a path's history: `(version, appendSeq)`. */
export interface MetaOrder {
  /** File version (bumped by overwrite, merge, a new put, a tombstone). */
  version: number;
  /** Sequence number of the last ordered op at that version. */
  appendSeq: number;
}

/** What the rule reads of a record (or of a record summary). */
export interface Ordered extends MetaOrder {
  /** The newest confirmed state of its history; absent on records older than this field. */
  confirmed?: MetaOrder;
}

/** The order before any state: nothing confirmed yet. */
export const UNCONFIRMED: MetaOrder = Object.freeze({ version: 0, appendSeq: 0 });

/** Compares two orders: positive if `a` is later. */
export function compareOrder(a: MetaOrder, b: MetaOrder): number {
  return a.version !== b.version ? a.version - b.version : a.appendSeq - b.appendSeq;
}

/** The later of two orders (as a fresh plain object). */
export function maxOrder(a: MetaOrder, b: MetaOrder): MetaOrder {
  const m = compareOrder(a, b) >= 0 ? a : b;
  return { version: m.version, appendSeq: m.appendSeq };
}

/** The order of a record itself. */
export function orderOf(rec: MetaOrder): MetaOrder {
  return { version: rec.version, appendSeq: rec.appendSeq };
}

/** How far `rec`'s history is confirmed; a record without the field: through itself. */
export function confirmedOf(rec: Ordered): MetaOrder {
  return rec.confirmed ? orderOf(rec.confirmed) : orderOf(rec);
}

/**
 * Orders two records of one path (positive if `a` wins): by how far their history is
 * confirmed, then by `(version, appendSeq)`. Zero: the same record, or a true conflict.
 */
export function compareRecords(a: Ordered, b: Ordered): number {
  return compareOrder(confirmedOf(a), confirmedOf(b)) || compareOrder(a, b);
}
