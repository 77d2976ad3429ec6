/**
 * How a metadata primary reads and writes a file's record on its replicas, with conflicts
 * made visible instead of silently absorbed.
 *
 * - {@link reloadRecord}: the authoritative record, read from every candidate replica (the RF
 *   replicas and the fall-back successors), the ring owners and the local store: the newest by
 *   `(version, appendSeq)`, then the one held by the most replicas, then the highest history
 *   head (`meta_head.ts`), so every primary resolves a split the same way. A majority of the
 *   path's quorum owners (`RingLocator.quorumOwners`: its first RF successors among all known
 *   members, a dead one included for a grace period) must answer, else `dfs_unavailable`.
 * - {@link replicateRecord} / {@link replicateOp}: W = RF, a majority of the quorum owners
 *   among them, so the next reload meets every acknowledged change. A replica counts only when it stored
 *   exactly this record, or applied exactly this op at this number (a verified duplicate
 *   included). A replica that refuses because it holds a newer record, or a different record
 *   or op under the same number, is a conflict: the write fails with a retryable
 *   `dfs_unavailable` carrying {@link ReplicationError.conflict}, and the primary must reload.
 *   The error also says how many replicas took the write once every attempt settled, so the
 *   primary knows whether the change may exist anywhere.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import type { FileMeta, MetaOp } from "./file_meta.ts";
import type { NodeContext } from "./node_context.ts";
import { codeOf, isUnreachable, unavailable } from "./node_errors.ts";
import { recordIdentity } from "./meta_head.ts";
import { metadataKey } from "./ring/id.ts";
import { compareRecords, newest } from "./node_meta.ts";
import { orderOf } from "./meta_order.ts";

/** A replicated write that did not reach RF replicas. */
export class ReplicationError extends ElasticoreError {
  /** Replicas that took the write (final: every attempt had settled). */
  readonly reached: number;
  /** True if a replica refused because it holds a conflicting or newer record. */
  readonly conflict: boolean;

  /** Creates the error. */
  constructor(message: string, reached: number, conflict: boolean) {
    super("dfs_unavailable", message, {
      hint: conflict
        ? "another primary changed the file meanwhile; the record was reloaded, retry"
        : "the cluster has too few live nodes for the replication factor; retry later",
      status: 503,
    });
    this.reached = reached;
    this.conflict = conflict;
  }
}

/** A replica refused the write: it holds a newer record or another one under this number. */
class Refused extends Error {}

/**
 * True if `e` is (or was caused by) a replica's conflict refusal, or a block number that a
 * discarded history already used (`dfs_version_conflict`): the primary must reload, re-plan.
 */
export function isConflict(e: unknown): boolean {
  return (e instanceof ReplicationError && e.conflict) || e instanceof Refused ||
    codeOf(e) === "dfs_meta_conflict" || codeOf(e) === "dfs_version_conflict";
}

/** How many of `owners` make a majority: what a reload must hear from and a change must reach. */
export function ownerQuorum(owners: readonly string[]): number {
  return Math.floor(owners.length / 2) + 1;
}

/**
 * The records of `path` held by this node and the reachable `cands` and ring `owners`
 * (`NodeContext.owners`), and how many of the owners answered (this node counts when it is
 * one).
 */
export async function readRecords(
  ctx: NodeContext,
  path: string,
  cands: readonly string[],
): Promise<{ local: FileMeta | null; all: FileMeta[]; owners: string[]; ownersAnswered: number }> {
  const owners = ctx.quorumOwners(metadataKey(path));
  // An owner declared dead counts as not answering (asking it would only wait out the deadline).
  const peers = [...new Set([...cands, ...owners])].filter((p) => p !== ctx.self && !ctx.isDead(p));
  let ownersAnswered = owners.includes(ctx.self) ? 1 : 0;
  const local = await ctx.localMeta(path);
  const others = await Promise.all(
    peers.map((p) =>
      // Short deadline: a paused replica must not stall the path; the replication checks
      // catch whatever a missing answer hid.
      ctx.call<{ record: FileMeta | null }>(p, "dfs.meta_get", { path }, { deadlineMs: 3000 })
        .then((r) => {
          ctx.trust(p);
          if (owners.includes(p)) ownersAnswered++;
          return r.record;
        }, (e) => {
          if (isUnreachable(e)) ctx.suspect(p);
          return null;
        })
    ),
  );
  return {
    local,
    all: [local, ...others].filter((r): r is FileMeta => r !== null),
    owners,
    ownersAnswered,
  };
}

/**
 * The authoritative record among `recs`: newest by `(version, appendSeq)`, then held by the
 * most of them, then the highest history head.
 */
export function authoritative(recs: readonly FileMeta[]): FileMeta | null {
  const holders = new Map<string, number>();
  for (const r of recs) holders.set(recordIdentity(r), (holders.get(recordIdentity(r)) ?? 0) + 1);
  let best: FileMeta | null = null;
  for (const r of recs) {
    if (best === null) {
      best = r;
      continue;
    }
    const a = recordIdentity(r);
    const b = recordIdentity(best);
    const c = compareRecords(r, best) || holders.get(a)! - holders.get(b)! || (a > b ? 1 : 0);
    if (c > 0) best = r;
  }
  return best;
}

/**
 * The authoritative record of `path` among `cands` and this node (null if none has one); it
 * is stored locally when this node is a candidate and holds an older one.
 */
export async function reloadRecord(
  ctx: NodeContext,
  path: string,
  cands: readonly string[],
): Promise<FileMeta | null> {
  const { local, all, owners, ownersAnswered } = await readRecords(ctx, path, cands);
  // An acknowledged change reached a majority of the quorum owners (`toReplicas`); a base
  // read that hears from a majority of them meets it. One that does not could order on a
  // stale base and fork the history (DFS-9).
  if (ownersAnswered < ownerQuorum(owners)) {
    throw unavailable(
      `only ${ownersAnswered} of the ${owners.length} metadata owners of ${path} ` +
        `(${owners.join(", ")}) answered; a majority must before a change is ordered`,
    );
  }
  const best = authoritative(all);
  if (best && (!local || compareRecords(best, local) > 0) && cands.includes(ctx.self)) {
    await ctx.storeMeta(best);
  }
  return best;
}

/**
 * Runs `fn` on RF live replicas from `cands` (W = RF with fall-back to further successors);
 * resolves with the replicas that took it. A majority of the path's ring owners must be among
 * them: the next primary's reload hears from a majority of the owners too, so it sees this
 * change (DFS-9: three fall-back nodes are not enough).
 */
async function toReplicas(
  ctx: NodeContext,
  path: string,
  cands: readonly string[],
  what: string,
  fn: (peer: string) => Promise<void>,
): Promise<string[]> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  const took: string[] = [];
  const failures: unknown[] = [];
  const workers: Promise<void>[] = [];
  const start = Promise.withResolvers<void>();
  const worker = async (me: number) => {
    await start.promise; // every worker is in `workers` before any of them runs
    while (next < cands.length) {
      const peer = cands[next++];
      if (peer === ctx.self) {
        // This node's own copy goes last (DFS-7). A primary ordering from a stale record
        // (another owner ordered this number meanwhile) then hears the others refuse before
        // its own store takes the change: the change reached no replica, and the caller
        // re-plans it on the reloaded record instead of answering "maybe stored".
        await Promise.all(workers.filter((_, i) => i !== me));
        if (failures.some(isConflict)) return;
      }
      try {
        await fn(peer);
        done++;
        took.push(peer);
        return;
      } catch (e) {
        if (e instanceof Refused || !isUnreachable(e)) {
          failures.push(e);
          return;
        }
        ctx.suspect(peer);
      }
    }
  };
  // Every attempt settles before the outcome is decided, so `reached` is final.
  for (let i = 0; i < ctx.rf; i++) workers.push(worker(i));
  start.resolve();
  await Promise.all(workers);
  if (done >= ctx.rf) {
    const owners = ctx.quorumOwners(metadataKey(path));
    const onOwners = took.filter((p) => owners.includes(p)).length;
    if (onOwners < ownerQuorum(owners)) {
      throw new ReplicationError(
        `${what} reached ${took.join(", ")}: only ${onOwners} of its ${owners.length} owners ` +
          `(${owners.join(", ")}); a majority must take it`,
        done,
        false,
      );
    }
    ctx.metrics.metaReplicationSeconds.observe((performance.now() - started) / 1000);
    return took;
  }
  const conflict = failures.some(isConflict);
  if (failures.length > 0 && !conflict) throw failures[0];
  const why = conflict
    ? `a replica holds a conflicting record (${String(failures.find(isConflict))})`
    : "too few live replicas";
  throw new ReplicationError(
    `${what} reached ${done} of ${ctx.rf} replicas: ${why}`,
    done,
    conflict,
  );
}

/** Stores `rec` on RF replicas; each must store exactly it (else a conflict). Resolves with them. */
export function replicateRecord(
  ctx: NodeContext,
  rec: FileMeta,
  cands: readonly string[],
): Promise<string[]> {
  return toReplicas(
    ctx,
    rec.path,
    cands,
    `metadata of ${rec.path}`,
    (peer) => putOn(ctx, peer, rec),
  );
}

async function putOn(ctx: NodeContext, peer: string, rec: FileMeta): Promise<void> {
  const stored = peer === ctx.self
    ? await ctx.storeMeta(rec)
    : (await ctx.call<{ stored: boolean }>(peer, "dfs.meta_put", { record: rec })).stored;
  if (!stored) {
    throw new Refused(`${peer} holds a newer or conflicting record of ${rec.path}`);
  }
}

/**
 * Replicates `op` (which turned the primary's base into `rec`) to RF replicas: each applies
 * it, or confirms it applied exactly it, or (lacking the base, or holding another history)
 * stores `rec` if it wins there. Resolves with the replicas that took it.
 */
export function replicateOp(
  ctx: NodeContext,
  rec: FileMeta,
  op: MetaOp,
  cands: readonly string[],
): Promise<string[]> {
  return toReplicas(ctx, rec.path, cands, `op ${op.seq} of ${rec.path}`, async (peer) => {
    if (peer === ctx.self) {
      await putOn(ctx, peer, rec);
      return;
    }
    const r = await ctx.call<{ need: boolean }>(peer, "dfs.meta_op", { path: rec.path, op });
    if (r.need) await putOn(ctx, peer, rec);
  });
}

/**
 * Records on every one of `peers` (the replicas that took `rec`) that `rec` is confirmed: each
 * raises its record's `confirmed` point to `rec`'s order, if it still holds exactly `rec`
 * (`meta_order.ts`). W = all of them: throws a retryable `dfs_unavailable`
 * ({@link ReplicationError}) when one could not, and the change must not be acknowledged.
 */
export async function markReplicas(
  ctx: NodeContext,
  rec: FileMeta,
  peers: readonly string[],
): Promise<void> {
  const mark = orderOf(rec);
  const head = recordIdentity(rec);
  const body = { path: rec.path, ...mark, head };
  const results = await Promise.allSettled(peers.map(async (peer) => {
    const ok = peer === ctx.self
      ? await ctx.markMeta(rec.path, mark, head)
      : (await ctx.call<{ marked: boolean }>(peer, "dfs.meta_mark", body)).marked;
    if (!ok) throw new Refused(`${peer} no longer holds state ${mark.appendSeq} of ${rec.path}`);
  }));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length === 0) return;
  const conflict = failed.some((r) => isConflict(r.reason));
  throw new ReplicationError(
    `confirmation of ${rec.path} (version ${mark.version}, seq ${mark.appendSeq}) reached ` +
      `${peers.length - failed.length} of ${peers.length} replicas: ${String(failed[0].reason)}`,
    peers.length - failed.length,
    conflict,
  );
}

/**
 * Looks for the record of `path` on `peers` (members that are not its ring owners): after a
 * heal or a burst of joins, a record can sit on its previous holders until repair moves it.
 * The newest found is copied to the `owners` in the background (best effort, never replacing
 * a newer or different record there).
 */
export async function findElsewhere(
  ctx: NodeContext,
  path: string,
  peers: readonly string[],
  owners: readonly string[],
): Promise<FileMeta | null> {
  const found = await Promise.all(
    peers.map((p) =>
      // This node can be a previous holder too; asking itself over RPC would wait for the
      // deadline (no connection to itself), which made every create of a path it does not own
      // take 5 s and starved stream checkpoints (STREAM-1).
      p === ctx.self ? ctx.localMeta(path).catch(() => null) : ctx
        .call<{ record: FileMeta | null }>(p, "dfs.meta_get", { path }, { deadlineMs: 5000 })
        .then((r) => r.record, () => null)
    ),
  );
  const best = newest(found);
  if (best) {
    for (const o of owners) {
      const put = o === ctx.self
        ? ctx.storeMeta(best)
        : ctx.call(o, "dfs.meta_put", { record: best }, { deadlineMs: 5000 });
      put.catch(() => {});
    }
  }
  return best;
}
