/**
 * Metadata hand-off of a node that leaves the cluster for good (`elasticore node leave`).
 *
 * A path's quorum owners stay put when one of them dies (`RingLocator.quorumOwners`), so a
 * crashed node that comes back finds its records still counted. Without a hand-off a leaving
 * node would be treated the same way: it would stay an owner of its keys for the grace period,
 * and one more failure among those keys' owners would leave them without a majority (no change
 * could be ordered until the grace ran out).
 *
 * Instead the leaving node first refuses every metadata read and store (`dfs_leaving`, which
 * callers treat as unreachable and fall back from; it still takes the confirmation of a record
 * it holds, so a change already on its replicas is not left in doubt), then copies each record
 * it holds to the owners its key has without it ({@link handOffRecords}). Only when a majority
 * of those replacements took every record does it tell the other members it departed; they
 * drop it from the owners at once (`RingLocator.memberDeparted`). Any majority of the new
 * owners then meets every acknowledged change: a change reached a majority of the old owners,
 * and the leaving node's copy is on a majority of the new ones. A member that missed the
 * notice keeps the old owners, where the leaving node no longer answers: its majorities avoid
 * the leaving node and meet the new owners' majorities on the two owners the sets share. If
 * any record could not be handed off, nobody is told: the node is then treated as dead, with
 * the grace period.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { ElasticoreError } from "../errors.ts";
import type { CallOptions } from "../transport/rpc_types.ts";
import type { FileMeta } from "./file_meta.ts";
import type { RingLocator } from "./node_ring.ts";
import { ownerQuorum } from "./node_meta_sync.ts";
import { metadataKey } from "./ring/id.ts";
import type { NodeStore } from "./store/node_store.ts";

/** What a hand-off did. */
export interface HandoffStats {
  /** Records this node held. */
  records: number;
  /** Copies a replacement owner took (one that held the same record takes it again). */
  stored: number;
  /** Copies a replacement refused: it holds a newer record, or another one of the same order. */
  alreadyThere: number;
  /** Paths whose record did not reach a majority of their replacement owners. */
  failed: string[];
  /** Milliseconds the hand-off took. */
  ms: number;
}

/** What {@link handOffRecords} needs from the node. */
export interface HandoffTarget {
  /** The owners the record's key has without this node (live or not). */
  replacements(rec: FileMeta): string[];
  /** Whether `peer` is declared dead (it is not asked). */
  isDead(peer: string): boolean;
  /** Offers `rec` to `peer`: true if stored, false if `peer` holds it or a newer record. */
  put(peer: string, rec: FileMeta): Promise<boolean>;
}

/** Options of {@link handOffRecords}. */
export interface HandoffOptions {
  /** Records offered at once (default 8). */
  concurrency?: number;
  /** Attempts per copy (default 3, 200 ms apart). */
  attempts?: number;
  /** The hand-off gives up on copies not made by then (`Date.now()` milliseconds). */
  deadline: number;
}

/**
 * Offers every record to each of its live replacement owners; a record is handed off when a
 * majority of its replacements (dead ones counted as missing) took it or already held it.
 */
export async function handOffRecords(
  records: readonly FileMeta[],
  to: HandoffTarget,
  opts: HandoffOptions,
): Promise<HandoffStats> {
  const started = performance.now();
  const stats: HandoffStats = {
    records: records.length,
    stored: 0,
    alreadyThere: 0,
    failed: [],
    ms: 0,
  };
  const attempts = opts.attempts ?? 3;
  const offer = async (peer: string, rec: FileMeta): Promise<boolean> => {
    for (let i = 0; i < attempts && Date.now() < opts.deadline; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200));
      try {
        if (await to.put(peer, rec)) stats.stored++;
        else stats.alreadyThere++;
        return true;
      } catch {
        // retried; a copy that never lands counts as missing
      }
    }
    return false;
  };
  let next = 0;
  const worker = async () => {
    while (next < records.length) {
      const rec = records[next++];
      const targets = to.replacements(rec);
      const live = targets.filter((p) => !to.isDead(p));
      const took = (await Promise.all(live.map((p) => offer(p, rec)))).filter(Boolean).length;
      if (took < ownerQuorum(targets)) stats.failed.push(rec.path);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  stats.ms = Math.round(performance.now() - started);
  return stats;
}

/**
 * The refusal of a node that is leaving (`dfs_leaving`, 503): callers treat it like an
 * unreachable peer (`isUnreachable`) and fall back to the next replica.
 */
export function leavingError(self: string): ElasticoreError {
  return new ElasticoreError(
    "dfs_leaving",
    `${self} is leaving the cluster; its metadata moved to the next owners`,
    { hint: "retry: the request falls back to another replica", status: 503 },
  );
}

/** What {@link handOffAndAnnounce} needs from a DFS node that already refuses metadata requests. */
export interface LeavingNode {
  /** Its id. */
  readonly self: string;
  /** Its store (the records to hand off). */
  readonly store: NodeStore;
  /** Its ring shell (owners, liveness). */
  readonly ring: RingLocator;
  /** Its logger. */
  readonly log: Logger;
  /** An RPC to a peer. */
  call<R>(peer: string, type: string, body: unknown, opts?: CallOptions): Promise<R>;
}

/**
 * Hands every record of `node` off ({@link handOffRecords}) until `deadline`, then, if none
 * fell short, sends `dfs.departed` to every live member; logs and returns what it did.
 */
export async function handOffAndAnnounce(
  node: LeavingNode,
  deadline: number,
): Promise<HandoffStats & { announced: number }> {
  const records = await node.store.listMeta("", Number.MAX_SAFE_INTEGER);
  const stats = await handOffRecords(records, {
    replacements: (rec) => node.ring.quorumOwnersWithout(metadataKey(rec.path), node.self),
    isDead: (peer) => node.ring.isDead(peer),
    put: async (peer, record) =>
      (await node.call<{ stored: boolean }>(peer, "dfs.meta_put", { record }, {
        deadlineMs: 3000,
      })).stored,
  }, { deadline });
  let announced = 0;
  if (stats.failed.length === 0) {
    const peers = node.ring.liveMembers().filter((p) => p !== node.self);
    const told = await Promise.allSettled(
      peers.map((p) => node.call(p, "dfs.departed", {}, { deadlineMs: 3000 })),
    );
    announced = told.filter((r) => r.status === "fulfilled").length;
  }
  node.log.info(
    "DFS hand-off: {stored} copies of {records} records stored, {already} already there, " +
      "{failed} records short of a majority, {announced} members told, {ms} ms",
    { ...stats, already: stats.alreadyThere, failed: stats.failed.length, announced },
  );
  return { ...stats, announced };
}
