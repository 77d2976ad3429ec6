/**
 * Metadata helpers of a DFS node: tombstones, record order, summaries and the in-memory
 * index of the metadata records a node stores (for listings and anti-entropy without
 * decoding every record).
 *
 * A removed file keeps a tombstone: a record with an empty `fileId`, no blocks and a version
 * above the last live one, so a stale replica can never bring the file back. A file created
 * again at that path starts from the tombstone's version + 1.
 *
 * @module
 */
import type { MetaSummary } from "../../proto/dfs.ts";
import { type FileMeta, type FileStat, statMeta } from "./file_meta.ts";
import { recordIdentity, sealed } from "./meta_head.ts";
import { compareOrder, compareRecords, confirmedOf, type Ordered } from "./meta_order.ts";
import { inOpenClosed, metadataKey, type RingId } from "./ring/id.ts";

/** True if `rec` is a tombstone (a removed file). */
export function isTombstone(rec: FileMeta): boolean {
  return rec.fileId === "";
}

/** The tombstone that removes `rec`. */
export function tombstoneOf(rec: FileMeta, nowMs: number): FileMeta {
  return sealed({
    path: rec.path,
    fileId: "",
    size: 0,
    version: rec.version + 1,
    blockBytes: rec.blockBytes,
    blocks: [],
    nextBlockNo: 0,
    createdMs: rec.createdMs,
    modifiedMs: Math.max(nowMs, rec.modifiedMs),
    appendSeq: 0,
    confirmed: confirmedOf(rec), // confirmed once its primary confirmed the removal
  });
}

export { compareRecords };

/**
 * The winning record among some (null if none), by {@link compareRecords} (`meta_order.ts`).
 * Records tied there but of different histories (conflicting primaries) are ordered by their
 * `head`, so every node picks the same one whatever order it sees them in.
 */
export function newest<T extends Ordered & { head?: string }>(
  recs: Iterable<T | null | undefined>,
): T | null {
  let best: T | null = null;
  for (const r of recs) {
    if (!r) continue;
    const c = best === null ? 1 : compareRecords(r, best);
    if (c > 0 || (c === 0 && (r.head ?? "") > (best!.head ?? ""))) best = r;
  }
  return best;
}

/**
 * Whether record (or summary) `a` replaces `b` where `b` is stored: it wins the reconcile
 * rule, or it has the same order and confirmed point but another history while neither is
 * confirmed through its own order (neither was acknowledged) and it wins the head tie-break
 * that readers apply too (see `replacesAtSameOrder` in the node store).
 */
export function winsOver(a: Ordered & { head?: string }, b: Ordered & { head?: string }): boolean {
  const c = compareRecords(a, b);
  if (c !== 0) return c > 0;
  const ha = a.head ?? "";
  const hb = b.head ?? "";
  if (ha === "" || hb === "" || ha === hb) return false;
  const unacked = compareOrder(confirmedOf(b), { version: b.version, appendSeq: b.appendSeq }) < 0;
  return unacked && ha > hb;
}

/** The summary of a record, as listings carry it. */
export function summaryOf(rec: FileMeta): MetaSummary {
  return {
    ...statMeta(rec),
    deleted: isTombstone(rec),
    confirmed: confirmedOf(rec),
    head: recordIdentity(rec),
  };
}

/** A summary without its tombstone flag and confirmed point: the `FileStat` users see. */
export function statOf(s: MetaSummary): FileStat {
  const { deleted: _deleted, confirmed: _confirmed, head: _head, ...stat } = s;
  return stat;
}

interface Indexed {
  summary: MetaSummary;
  key: RingId;
}

/** The summaries of the records one node stores, by path. */
export class MetaIndex {
  readonly #byPath = new Map<string, Indexed>();

  /** Records (or replaces) the summary of `rec`. */
  set(rec: FileMeta): void {
    this.#byPath.set(rec.path, { summary: summaryOf(rec), key: metadataKey(rec.path) });
  }

  /** Forgets `path`. */
  delete(path: string): void {
    this.#byPath.delete(path);
  }

  /** The summary of `path`, if stored. */
  get(path: string): MetaSummary | undefined {
    return this.#byPath.get(path)?.summary;
  }

  /** Number of records. */
  get size(): number {
    return this.#byPath.size;
  }

  /** Summaries whose path starts with `prefix`, in path order, at most `limit`. */
  list(prefix: string, limit: number): MetaSummary[] {
    const out: MetaSummary[] = [];
    for (const [p, e] of this.#byPath) if (p.startsWith(prefix)) out.push(e.summary);
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return out.slice(0, limit);
  }

  /** Summaries of the records whose placement key lies in `(start, end]`. */
  inRange(start: RingId, end: RingId): MetaSummary[] {
    const out: MetaSummary[] = [];
    for (const e of this.#byPath.values()) {
      if (inOpenClosed(e.key, start, end)) out.push(e.summary);
    }
    return out;
  }

  /** Every path. */
  paths(): string[] {
    return [...this.#byPath.keys()];
  }
}
