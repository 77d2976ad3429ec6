/**
 * The metadata primary of a DFS file: the first live replica of `metadataKey(path)`. It
 * orders every change of the file's record (create/overwrite commits, appends, merges,
 * removal) under a per-path lock, writes the record or the ordered op to the RF metadata
 * replicas, and acknowledges only when all RF have it durably (W = RF, with the same
 * fall-back to further live successors as blocks).
 *
 * Appends use group commit: appends to one path that arrive while a batch is being
 * committed wait in a queue and are committed together as the next batch — their bytes,
 * in arrival order, become new piece blocks and one ordered op (`appendSeq`) — and each is
 * acknowledged once its batch is on RF replicas. Concurrent appenders on any node are thus
 * ordered by the primary, and each append is contiguous in the file.
 *
 * Fencing and conflicts (see `node_meta_sync.ts` and `meta_head.ts`): the primary never
 * trusts a record it did not just read. It reloads the authoritative record from the replicas
 * (all RF plus the fall-back successors) when it starts acting for a path, after a ring
 * change, after its cached record sat unused for {@link KNOWN_TTL_MS}, and after any failed
 * write. Every op names the history head it applies to, and a replica counts towards
 * W = RF only if it applied exactly that op under that number; a replica holding another op
 * under that number (a second primary during churn, or this primary's stale cache) refuses
 * with a conflict. The failed batch is then never acknowledged: if no replica took it, its
 * appends are re-planned on the reloaded record (up to {@link MAX_REBASES} times); otherwise
 * the appenders get a retryable `dfs_unavailable`. The blocks of a failed batch are deleted
 * only if no replica's record references them (block ids of two histories can coincide).
 *
 * Write fence (`write_fence.ts`): placement is sloppy (each side of a partition sees its own
 * RF live successors), so both sides could each store a change on "RF replicas". The primary
 * therefore acknowledges a mutation (a put's commit, an append batch, rm, merge) only after
 * the change is on its replicas AND a confirmation through the Raft quorum that was *sent
 * after that* succeeded (`fence.confirm()`, one shared round per batch, not per append); a
 * failed confirmation fails the op with `dfs_no_quorum` (503, retryable, nothing
 * acknowledged). A node on the minority side of a cut thus acknowledges nothing. Before it
 * stores anything, the primary also checks the fence's lease (`fence.check()`: a
 * confirmation sent less than the lease ago, the lease shorter than SWIM's earliest dead
 * declaration, ended by every ring change), so a cut-off node stops writing unacknowledged
 * changes to its side's replicas within one lease. Blocks a change replaces (overwrite,
 * merge, rm) are deleted only after its confirmation.
 *
 * Confirmed histories (`meta_order.ts`): what a cut-off primary stored within its lease is
 * never acknowledged, but it sits on replicas. So after the confirmation and before the ack,
 * the primary records it on every replica that took the change (`dfs.meta_mark`, W = all of
 * them; a failure fails the op, retryable): each raises its record's `confirmed` point to the
 * change's `(version, appendSeq)`. Reconciliation (reload, readers, anti-entropy, the
 * replicas' stores) prefers the record confirmed further, then the newer one; so at a heal
 * the majority's acknowledged history beats a longer unconfirmed minority tail, whose records
 * are replaced. An append batch's metadata is replicated only after the batch before it was
 * confirmed and marked (its blocks still overlap), so every record the primary sends carries
 * the newest confirmed point of its chain. Blocks of a discarded history never collide with
 * the winner's: every append and merge names its new blocks with a fresh nonce.
 *
 * Owner quorum (DFS-9): placement skips suspected and dead nodes, so a node that cannot reach
 * a path's owners can find itself first among its candidates and act as primary, and the
 * owners of a path move whenever a member dies or comes back. A reload must therefore hear
 * from a majority of the path's quorum owners, a set that does not move with failures
 * (`RingLocator.quorumOwners`), and every change must reach a majority of them: a primary
 * that cannot answers `dfs_unavailable` instead of ordering on a stale base. A path stays
 * writable while a majority of its owners is reachable.
 *
 * Guaranteed: no acknowledged change is lost or displaced while fewer than RF metadata
 * replicas fail (a partition counts as failures for the replicas it cuts off from the
 * majority). A member dead for longer than the owners' grace period is replaced; a record
 * it held on a majority with one other owner then relies on that owner answering (repair
 * copies it meanwhile). Not guaranteed: if all RF replicas and the primary that acknowledged
 * a change were cut off together, the majority may confirm a second history; at the heal the
 * one confirmed further wins.
 *
 * @module
 */
import type { DfsCommit } from "../../proto/dfs.ts";
import {
  admitAppends,
  type AppendPlan,
  type AppendQueue,
  concat,
  MAX_APPEND_BYTES,
  planAppend,
  type QueuedAppend,
  takeBatch,
} from "./append_plan.ts";
import {
  commitMerge,
  createMeta,
  type FileMeta,
  type FileStat,
  type MetaOp,
  newBlockNonce,
  statMeta,
} from "./file_meta.ts";
import { planMerge } from "./file_layout.ts";
import type { BlockIo } from "./node_blocks.ts";
import type { NodeContext } from "./node_context.ts";
import { exists, notFound, sizePrecondition, unavailable } from "./node_errors.ts";
import { isTombstone, tombstoneOf } from "./node_meta.ts";
import {
  isConflict,
  markReplicas,
  readRecords,
  reloadRecord,
  replicateOp,
  replicateRecord,
  ReplicationError,
} from "./node_meta_sync.ts";
import { sameRecord, sealed } from "./meta_head.ts";
import { confirmedOf, maxOrder, type MetaOrder, orderOf, UNCONFIRMED } from "./meta_order.ts";
import { metadataKey } from "./ring/id.ts";
import { sha256Hex } from "./store/checksum.ts";
import { KeyedMutex } from "./store/keyed_mutex.ts";
import { ElasticoreError } from "../errors.ts";

export { MAX_APPEND_BYTES };
import type { WriteFence } from "./write_fence.ts";

/** Append batches of one path in flight at once. */
const APPEND_PIPELINE = 2;
/** Batches started per hold of the path lock, so that other operations get their turn. */
const BATCHES_PER_HOLD = 64;
/** A cached record unused for this long is read from the replicas again. */
export const KNOWN_TTL_MS = 5000;
/** Times an append is re-planned after a conflict that no replica took. */
export const MAX_REBASES = 3;

/** A new incarnation id: 32 hex digits. */
export function newFileId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** A failed batch: its cause, and whether a replica may hold its change. */
class BatchFailure extends Error {
  constructor(override readonly cause: unknown, readonly maybeStored: boolean) {
    super(String(cause));
  }
}

/** The primary-side operations of a node (it acts as primary for the paths it is asked). */
export class Primary {
  readonly #ctx: NodeContext;
  readonly #blocks: BlockIo;
  readonly #locks = new KeyedMutex();
  readonly #queues = new Map<string, AppendQueue>();
  /** Records reloaded since the last ring change (the primary's ordering state), and when. */
  readonly #known = new Map<string, { rec: FileMeta | null; at: number }>();
  readonly #fence: WriteFence;

  /** Creates the primary role of node `ctx`; `fence` confirms before every acknowledgement. */
  constructor(ctx: NodeContext, blocks: BlockIo, fence: WriteFence) {
    this.#ctx = ctx;
    this.#blocks = blocks;
    this.#fence = fence;
  }

  /** Forgets reconciled records: called when membership or the ring changes. */
  resetEpoch(): void {
    this.#known.clear();
  }

  async #replicas(path: string): Promise<string[]> {
    const cands = await this.#ctx.locate(metadataKey(path), 2);
    if (cands.length < this.#ctx.rf) {
      throw unavailable(
        `${cands.length} live nodes for the metadata of ${path}; need ${this.#ctx.rf}`,
      );
    }
    return cands;
  }

  /**
   * The replica candidates of `path` and its authoritative record: cached, or reloaded from
   * the replicas (a majority of the quorum owners must answer). After a reload the candidates are
   * placed again: owners that answered it are no longer suspected.
   */
  async #placed(path: string): Promise<{ cands: string[]; base: FileMeta | null }> {
    const ctx = this.#ctx;
    const cands = await this.#replicas(path);
    const now = Date.now();
    const hit = this.#known.get(path);
    if (hit && now - hit.at < KNOWN_TTL_MS) {
      hit.at = now;
      return { cands, base: hit.rec };
    }
    this.#known.delete(path);
    const best = await reloadRecord(ctx, path, cands);
    const placed = await this.#replicas(path);
    if (placed.slice(0, ctx.rf).includes(ctx.self)) this.#known.set(path, { rec: best, at: now });
    return { cands: placed, base: best };
  }

  #remember(rec: FileMeta, cands: string[]): void {
    if (cands.slice(0, this.#ctx.rf).includes(this.#ctx.self)) {
      this.#known.set(rec.path, { rec, at: Date.now() });
    }
  }

  async #replicateRecord(rec: FileMeta, cands: string[]): Promise<string[]> {
    this.#known.delete(rec.path);
    const peers = await replicateRecord(this.#ctx, rec, cands);
    this.#remember(rec, cands);
    return peers;
  }

  async #replicateOp(rec: FileMeta, op: MetaOp, cands: string[]): Promise<string[]> {
    this.#known.delete(rec.path);
    const peers = await replicateOp(this.#ctx, rec, op, cands);
    this.#remember(rec, cands);
    return peers;
  }

  /**
   * After `fence.confirm()` succeeded for `rec` (stored on `peers`): records on every one of
   * them that `rec` is confirmed (`meta_order.ts`), before anything is acknowledged.
   */
  async #mark(rec: FileMeta, peers: string[]): Promise<void> {
    await markReplicas(this.#ctx, rec, peers);
    const hit = this.#known.get(rec.path);
    if (hit?.rec && sameRecord(hit.rec, rec)) {
      hit.rec = { ...hit.rec, confirmed: maxOrder(confirmedOf(hit.rec), orderOf(rec)) };
    }
  }

  /** Commits a put whose blocks are stored: creates or (if allowed) replaces the record. */
  commit(req: DfsCommit): Promise<FileStat> {
    return this.#locks.run(req.path, async () => {
      const { cands, base } = await this.#placed(req.path);
      if (base && base.fileId === req.fileId) {
        // A retried commit: acknowledged like the first one (on RF, confirmed, marked).
        await this.#fence.check();
        const peers = await this.#replicateRecord(base, cands);
        await this.#fence.confirm();
        await this.#mark(base, peers);
        return statMeta(base);
      }
      const live = base && !isTombstone(base) ? base : null;
      if (live && !req.overwrite) throw exists(req.path, live.version);
      if (req.expectSize !== undefined && (live?.size ?? 0) !== req.expectSize) {
        throw sizePrecondition(req.path, live?.size ?? 0, req.expectSize, "put");
      }
      const { record } = createMeta(null, {
        path: req.path,
        fileId: req.fileId,
        blockBytes: req.blockBytes,
        blocks: req.blocks,
        nowMs: req.nowMs,
      });
      const rec = sealed({
        ...record,
        version: base ? base.version + 1 : record.version,
        createdMs: live ? live.createdMs : record.createdMs,
        confirmed: base ? confirmedOf(base) : { ...UNCONFIRMED },
      });
      await this.#fence.check();
      const peers = await this.#replicateRecord(rec, cands);
      await this.#fence.confirm();
      await this.#mark(rec, peers);
      if (live) this.#dropLater(live.blocks.map((b) => b.id));
      return statMeta(rec);
    });
  }

  /**
   * Appends `bytes` to `path` (creating it if needed) through the group-commit queue. With
   * `expectSize` the append applies only if the file has exactly that many bytes when it is
   * ordered (after every append ordered before it), else `dfs_size_precondition` (412): a
   * writer that retries after an unknown outcome, or a stale one still running, cannot add the
   * same bytes twice.
   */
  append(path: string, bytes: Uint8Array, nowMs: number, expectSize?: number): Promise<FileStat> {
    if (bytes.byteLength > MAX_APPEND_BYTES) {
      throw new ElasticoreError(
        "dfs_append_too_large",
        `an append carries at most ${MAX_APPEND_BYTES} bytes, got ${bytes.byteLength}`,
        { hint: "split the data into several appends, or put it as a file", status: 413 },
      );
    }
    let q = this.#queues.get(path);
    if (!q) this.#queues.set(path, q = { items: [], running: false });
    const { promise, resolve, reject } = Promise.withResolvers<FileStat>();
    q.items.push({ bytes, nowMs, expectSize, resolve, reject, rebases: 0 });
    if (!q.running) this.#pump(path, q);
    return promise;
  }

  async #pump(path: string, q: AppendQueue): Promise<void> {
    q.running = true;
    try {
      while (q.items.length > 0) await this.#locks.run(path, () => this.#window(path, q));
    } finally {
      q.running = false;
      if (q.items.length === 0) this.#queues.delete(path);
    }
  }

  /**
   * Commits batches while holding the path lock: up to {@link APPEND_PIPELINE} at once, so
   * the block writes of a batch overlap the metadata replication of the ones before; the
   * metadata of batch k+1 is replicated only after that of batch k succeeded. After a
   * failure no new batch starts in this window, and the next window re-reads the record.
   */
  async #window(path: string, q: AppendQueue): Promise<void> {
    let cands: string[];
    let base: FileMeta | null;
    try {
      ({ cands, base } = await this.#placed(path));
    } catch (e) {
      for (const a of q.items.splice(0)) a.reject(e);
      return;
    }
    let rec: FileMeta | null = base && !isTombstone(base) ? base : null;
    let prev: Promise<unknown> = Promise.resolve();
    /** The newest confirmed state of this window's chain (stamped on the records it sends). */
    const chain = { confirmed: base ? confirmedOf(base) : { ...UNCONFIRMED } };
    let broken = false;
    let conflicted = false;
    /** Failed batches no replica took, by start order: re-planned if a conflict caused it. */
    const untouched: { n: number; batch: QueuedAppend[]; error: unknown }[] = [];
    let started = 0;
    const inflight = new Set<Promise<void>>();
    // At most one batch writes its blocks at a time: the next batch is taken when they are
    // done, so it gathers every append that arrived meanwhile (group commit).
    let blockStage: Promise<void> | null = null;
    for (;;) {
      const room = inflight.size < APPEND_PIPELINE && started < BATCHES_PER_HOLD &&
        blockStage === null;
      if (q.items.length > 0 && !broken && room) {
        const batch = admitAppends(path, rec, takeBatch(q, this.#ctx.blockBytes));
        if (batch.length === 0) continue;
        started++;
        const nowMs = Math.max(Date.now(), ...batch.map((a) => a.nowMs));
        let created = false;
        let plan: AppendPlan;
        try {
          if (rec === null) {
            rec = createMeta(null, {
              path,
              fileId: newFileId(),
              blockBytes: this.#ctx.blockBytes,
              blocks: [],
              nowMs,
            }).record;
            if (base) {
              rec = sealed({ ...rec, version: base.version + 1, confirmed: confirmedOf(base) });
            }
            created = true;
          }
          plan = planAppend(rec, batch, nowMs);
        } catch (e) {
          for (const a of batch) a.reject(e);
          continue;
        }
        rec = plan.record;
        const stage = Promise.withResolvers<void>();
        const marked = Promise.withResolvers<void>();
        marked.promise.catch(() => {});
        const p = this.#commitBatch(plan, created, cands, prev, stage.resolve, marked, chain);
        const thisStage: Promise<void> = stage.promise.then(() => {
          if (blockStage === thisStage) blockStage = null;
        });
        blockStage = thisStage;
        // The next batch's metadata follows this one's confirmation and its marks: so every
        // record this window sends carries the newest confirmed point of the chain, and a
        // replica's record never loses its mark to its own successor (`meta_order.ts`).
        prev = marked.promise;
        const n = started;
        const tracked: Promise<void> = p.then(
          (stat) => batch.forEach((a) => a.resolve(stat)),
          (e) => {
            broken = true;
            const f = e instanceof BatchFailure ? e : new BatchFailure(e, true);
            if (isConflict(f.cause)) conflicted = true;
            if (f.maybeStored) batch.forEach((a) => a.reject(f.cause));
            else untouched.push({ n, batch, error: f.cause });
          },
        ).finally(() => inflight.delete(tracked));
        inflight.add(tracked);
        continue;
      }
      if (inflight.size === 0) break;
      await Promise.race(blockStage ? [...inflight, blockStage] : inflight);
    }
    if (!broken) return;
    this.#known.delete(path); // the next window reloads the record from the replicas
    // A conflict means the base was not the authoritative record: appends no replica took
    // are planned again on the reloaded one, in their order, ahead of the newer ones.
    const again: QueuedAppend[] = [];
    for (const u of untouched.sort((a, b) => a.n - b.n)) {
      for (const a of u.batch) {
        if (conflicted && a.rebases < MAX_REBASES) {
          a.rebases++;
          again.push(a);
        } else a.reject(u.error);
      }
    }
    q.items.unshift(...again);
  }

  async #commitBatch(
    plan: AppendPlan,
    created: boolean,
    cands: string[],
    prev: Promise<unknown>,
    blocksDone: () => void,
    marked: PromiseWithResolvers<void>,
    chain: { confirmed: MetaOrder },
  ): Promise<FileStat> {
    const blocks = plan.op?.blocks ?? [];
    let replicating = false;
    let replicated = false;
    const path = plan.record.path;
    try {
      await (async () => {
        await this.#fence.check(); // nothing is stored once the lease ran out
        await Promise.all(
          blocks.map((b, i) =>
            this.#blocks.store({
              id: b.id,
              version: b.version,
              bytes: plan.pieces[i],
              sha256: b.checksum,
            })
          ),
        );
      })().finally(blocksDone);
      await prev; // the batch before must be confirmed and marked first (and have succeeded)
      replicating = true;
      const rec = {
        ...plan.record,
        confirmed: maxOrder(confirmedOf(plan.record), chain.confirmed),
      };
      let peers: string[] = [];
      if (created) peers = await this.#replicateRecord(rec, cands);
      else if (plan.op) peers = await this.#replicateOp(rec, plan.op, cands);
      replicated = true;
      // One confirmation round, sent after the batch is on RF replicas, then the marks on
      // those replicas, before any ack.
      await this.#fence.confirm();
      if (peers.length > 0) {
        await this.#mark(rec, peers);
        chain.confirmed = orderOf(rec);
      }
      marked.resolve();
      return statMeta(plan.record);
    } catch (e) {
      marked.reject(e);
      // A replica that took the change references these blocks (the append's outcome is
      // unknown, and later appends build on it): keep them then.
      const stored = replicated ||
        (replicating && !(e instanceof ReplicationError && e.reached === 0));
      if (!stored) this.#dropUnreferenced(path, blocks.map((b) => b.id), cands);
      throw new BatchFailure(e instanceof BatchFailure ? e.cause : e, stored);
    }
  }

  /**
   * Deletes blocks of a failed change in the background, unless a replica's record references
   * them: a primary working from a stale record numbers its blocks like the ones another
   * primary already committed (same ids, and the same content is accepted as the same block).
   */
  #dropUnreferenced(path: string, ids: string[], cands: string[]): void {
    if (ids.length === 0) return;
    readRecords(this.#ctx, path, cands).then(({ all }) => {
      const used = new Set(all.flatMap((r) => r.blocks.map((b) => b.id)));
      this.#dropLater(ids.filter((id) => !used.has(id)));
    }, () => {});
  }

  /** Removes `path`: a tombstone on RF replicas, then the blocks are deleted. */
  remove(path: string, nowMs: number): Promise<{ version: number }> {
    return this.#locks.run(path, async () => {
      const { cands, base } = await this.#placed(path);
      if (!base || isTombstone(base)) throw notFound(path);
      const tomb = tombstoneOf(base, nowMs);
      await this.#fence.check();
      const peers = await this.#replicateRecord(tomb, cands);
      // Confirmed before the blocks go: a removal the majority never sees must not delete them.
      await this.#fence.confirm();
      await this.#mark(tomb, peers);
      await this.#blocks.delete(base.blocks.map((b) => b.id));
      return { version: tomb.version };
    });
  }

  /** Rewrites the appended pieces of `path` into full-size blocks (version bump). */
  merge(path: string, nowMs: number): Promise<FileStat> {
    return this.#locks.run(path, async () => {
      const { cands, base } = await this.#placed(path);
      if (!base || isTombstone(base)) throw notFound(path);
      const plan = planMerge(base, newBlockNonce());
      if (plan === null) return statMeta(base);
      await this.#fence.check();
      const written: string[] = [];
      let replicating = false;
      let replicated = false;
      try {
        const checksums: string[] = [];
        for (const t of plan.targets) {
          const parts: Uint8Array[] = [];
          for (const x of t.sources) {
            const whole = x.start === 0 && x.end === x.block.size;
            parts.push(
              await this.#blocks.read(
                x.block,
                whole ? undefined : { offset: x.start, length: x.end - x.start },
              ),
            );
          }
          const bytes = concat(parts);
          const sha = sha256Hex(bytes);
          written.push(t.id);
          await this.#blocks.store({ id: t.id, version: plan.version, bytes, sha256: sha });
          checksums.push(sha);
        }
        const change = commitMerge(base, plan, checksums, Math.max(nowMs, base.modifiedMs));
        replicating = true;
        const peers = await this.#replicateOp(change.record, change.op!, cands);
        replicated = true;
        await this.#fence.confirm(); // before the pieces the merge replaced are deleted
        await this.#mark(change.record, peers);
        this.#dropLater(change.obsolete.map((b) => b.id));
        return statMeta(change.record);
      } catch (e) {
        // Unless a replica may reference them (then they are kept).
        const stored = replicated ||
          (replicating && !(e instanceof ReplicationError && e.reached === 0));
        if (!stored) this.#dropUnreferenced(path, written, cands);
        throw e;
      }
    });
  }

  /** Deletes blocks in the background (they are no longer referenced). */
  #dropLater(ids: string[]): void {
    if (ids.length === 0) return;
    this.#blocks.delete(ids).catch((e) => {
      this.#ctx.log.warn("deleting {n} obsolete blocks failed: {error}", {
        n: ids.length,
        error: String(e),
      });
    });
  }
}
