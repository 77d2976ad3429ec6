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
 * The primary's view of a record is reconciled with the other replicas the first time it
 * touches the path after a ring change (it may have just become primary), taking the newest.
 *
 * @module
 */
import type { DfsCommit } from "../../proto/dfs.ts";
import {
  appendMeta,
  type BlockContent,
  commitMerge,
  createMeta,
  type FileMeta,
  type FileStat,
  type MetaOp,
  planMerge,
  splitSizes,
  statMeta,
} from "./file_meta.ts";
import type { BlockIo } from "./node_blocks.ts";
import type { NodeContext } from "./node_context.ts";
import { exists, isUnreachable, notFound, unavailable } from "./node_errors.ts";
import { compareRecords, isTombstone, newest, tombstoneOf } from "./node_meta.ts";
import { metadataKey } from "./ring/id.ts";
import { sha256Hex } from "./store/checksum.ts";
import { KeyedMutex } from "./store/keyed_mutex.ts";
import { ElasticoreError } from "../errors.ts";

/** Largest single append, in bytes (it is buffered on the primary). */
export const MAX_APPEND_BYTES = 64 * 1024 * 1024;

/** Append batches of one path in flight at once. */
const APPEND_PIPELINE = 2;
/** Batches started per hold of the path lock, so that other operations get their turn. */
const BATCHES_PER_HOLD = 64;

interface AppendPlan {
  /** The record after the batch. */
  record: FileMeta;
  /** The ordered op (null when the batch carries no bytes). */
  op: MetaOp | null;
  /** The bytes of each new piece block. */
  pieces: Uint8Array[];
}

/** Orders one batch of appends after `rec`: its bytes become new piece blocks and one op. */
function planAppend(
  rec: FileMeta,
  batch: readonly { bytes: Uint8Array }[],
  nowMs: number,
): AppendPlan {
  const data = concat(batch.map((a) => a.bytes));
  if (data.byteLength === 0) return { record: rec, op: null, pieces: [] };
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const size of splitSizes(data.byteLength, rec.blockBytes)) {
    pieces.push(data.subarray(at, at += size));
  }
  const contents: BlockContent[] = pieces.map((p) => ({
    size: p.byteLength,
    checksum: sha256Hex(p),
  }));
  const change = appendMeta(rec, contents, Math.max(nowMs, rec.modifiedMs));
  return { record: change.record, op: change.op, pieces };
}

/** A new incarnation id: 32 hex digits. */
export function newFileId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

interface QueuedAppend {
  bytes: Uint8Array;
  nowMs: number;
  resolve(stat: FileStat): void;
  reject(e: unknown): void;
}

interface AppendQueue {
  items: QueuedAppend[];
  running: boolean;
}

/** The primary-side operations of a node (it acts as primary for the paths it is asked). */
export class Primary {
  readonly #ctx: NodeContext;
  readonly #blocks: BlockIo;
  readonly #locks = new KeyedMutex();
  readonly #queues = new Map<string, AppendQueue>();
  /** Records reconciled since the last ring change (the primary's ordering state). */
  readonly #known = new Map<string, FileMeta | null>();

  /** Creates the primary role of node `ctx`. */
  constructor(ctx: NodeContext, blocks: BlockIo) {
    this.#ctx = ctx;
    this.#blocks = blocks;
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

  /** The newest record of `path` on this node and its replicas. */
  async #base(path: string, cands: string[]): Promise<FileMeta | null> {
    const ctx = this.#ctx;
    if (this.#known.has(path)) return this.#known.get(path)!;
    const local = await ctx.localMeta(path);
    const others = await Promise.all(
      cands.slice(0, ctx.rf).filter((p) => p !== ctx.self).map((p) =>
        ctx.call<{ record: FileMeta | null }>(p, "dfs.meta_get", { path })
          .then((r) => r.record, () => null)
      ),
    );
    const best = newest([local, ...others]);
    if (best && (!local || compareRecords(best, local) > 0) && cands.includes(ctx.self)) {
      await ctx.storeMeta(best);
    }
    if (cands.slice(0, ctx.rf).includes(ctx.self)) this.#known.set(path, best);
    return best;
  }

  /** Runs `fn` on RF live replicas from `cands` (W = RF with fall-back). */
  async #toReplicas(cands: string[], what: string, fn: (peer: string) => Promise<void>) {
    const ctx = this.#ctx;
    const started = performance.now();
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < cands.length) {
        const peer = cands[next++];
        try {
          await fn(peer);
          done++;
          return;
        } catch (e) {
          if (!isUnreachable(e)) throw e;
          ctx.suspect(peer);
        }
      }
    };
    await Promise.all(Array.from({ length: ctx.rf }, worker));
    if (done < ctx.rf) throw unavailable(`${what} reached ${done} of ${ctx.rf} replicas`);
    ctx.metrics.metaReplicationSeconds.observe((performance.now() - started) / 1000);
  }

  async #replicateRecord(rec: FileMeta, cands: string[]): Promise<void> {
    const ctx = this.#ctx;
    this.#known.delete(rec.path);
    await this.#toReplicas(cands, `metadata of ${rec.path}`, async (peer) => {
      if (peer === ctx.self) await ctx.storeMeta(rec);
      else await ctx.call(peer, "dfs.meta_put", { record: rec });
    });
    if (cands.slice(0, ctx.rf).includes(ctx.self)) this.#known.set(rec.path, rec);
  }

  async #replicateOp(rec: FileMeta, op: MetaOp, cands: string[]): Promise<void> {
    const ctx = this.#ctx;
    this.#known.delete(rec.path);
    await this.#toReplicas(cands, `op ${op.seq} of ${rec.path}`, async (peer) => {
      if (peer === ctx.self) {
        await ctx.storeMeta(rec);
        return;
      }
      const r = await ctx.call<{ need: boolean }>(peer, "dfs.meta_op", { path: rec.path, op });
      if (r.need) await ctx.call(peer, "dfs.meta_put", { record: rec });
    });
    if (cands.slice(0, ctx.rf).includes(ctx.self)) this.#known.set(rec.path, rec);
  }

  /** Commits a put whose blocks are stored: creates or (if allowed) replaces the record. */
  commit(req: DfsCommit): Promise<FileStat> {
    return this.#locks.run(req.path, async () => {
      const cands = await this.#replicas(req.path);
      const base = await this.#base(req.path, cands);
      if (base && base.fileId === req.fileId) return statMeta(base); // a retried commit
      const live = base && !isTombstone(base) ? base : null;
      if (live && !req.overwrite) throw exists(req.path, live.version);
      const { record } = createMeta(null, {
        path: req.path,
        fileId: req.fileId,
        blockBytes: req.blockBytes,
        blocks: req.blocks,
        nowMs: req.nowMs,
      });
      if (base) record.version = base.version + 1;
      if (live) record.createdMs = live.createdMs;
      await this.#replicateRecord(record, cands);
      if (live) this.#dropLater(live.blocks.map((b) => b.id));
      return statMeta(record);
    });
  }

  /** Appends `bytes` to `path` (creating it if needed) through the group-commit queue. */
  append(path: string, bytes: Uint8Array, nowMs: number): Promise<FileStat> {
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
    q.items.push({ bytes, nowMs, resolve, reject });
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

  /** Takes the next batch: the queued appends up to the batch size limit (at least one). */
  #take(q: AppendQueue): QueuedAppend[] {
    const limit = Math.max(4 * this.#ctx.blockBytes, MAX_APPEND_BYTES);
    let total = 0;
    let n = 0;
    while (n < q.items.length && (n === 0 || total + q.items[n].bytes.byteLength <= limit)) {
      total += q.items[n++].bytes.byteLength;
    }
    return q.items.splice(0, n);
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
      cands = await this.#replicas(path);
      base = await this.#base(path, cands);
    } catch (e) {
      for (const a of q.items.splice(0)) a.reject(e);
      return;
    }
    let rec: FileMeta | null = base && !isTombstone(base) ? base : null;
    let prev: Promise<unknown> = Promise.resolve();
    let broken = false;
    let started = 0;
    const inflight = new Set<Promise<void>>();
    // At most one batch writes its blocks at a time: the next batch is taken when they are
    // done, so it gathers every append that arrived meanwhile (group commit).
    let blockStage: Promise<void> | null = null;
    for (;;) {
      const room = inflight.size < APPEND_PIPELINE && started < BATCHES_PER_HOLD &&
        blockStage === null;
      if (q.items.length > 0 && !broken && room) {
        const batch = this.#take(q);
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
            if (base) rec.version = base.version + 1;
            created = true;
          }
          plan = planAppend(rec, batch, nowMs);
        } catch (e) {
          for (const a of batch) a.reject(e);
          continue;
        }
        rec = plan.record;
        const stage = Promise.withResolvers<void>();
        const p = this.#commitBatch(plan, created, cands, prev, stage.resolve);
        const thisStage: Promise<void> = stage.promise.then(() => {
          if (blockStage === thisStage) blockStage = null;
        });
        blockStage = thisStage;
        prev = p;
        const tracked: Promise<void> = p.then(
          (stat) => batch.forEach((a) => a.resolve(stat)),
          (e) => {
            broken = true;
            batch.forEach((a) => a.reject(e));
          },
        ).finally(() => inflight.delete(tracked));
        inflight.add(tracked);
        continue;
      }
      if (inflight.size === 0) break;
      await Promise.race(blockStage ? [...inflight, blockStage] : inflight);
    }
    if (broken) this.#known.delete(path);
  }

  async #commitBatch(
    plan: AppendPlan,
    created: boolean,
    cands: string[],
    prev: Promise<unknown>,
    blocksDone: () => void,
  ): Promise<FileStat> {
    const blocks = plan.op?.blocks ?? [];
    try {
      await Promise.all(
        blocks.map((b, i) =>
          this.#blocks.store({
            id: b.id,
            version: b.version,
            bytes: plan.pieces[i],
            sha256: b.checksum,
          })
        ),
      ).finally(blocksDone);
      await prev; // the batch before must be committed first (and must have succeeded)
      if (created) await this.#replicateRecord(plan.record, cands);
      else if (plan.op) await this.#replicateOp(plan.record, plan.op, cands);
      return statMeta(plan.record);
    } catch (e) {
      this.#dropLater(blocks.map((b) => b.id));
      throw e;
    }
  }

  /** Removes `path`: a tombstone on RF replicas, then the blocks are deleted. */
  remove(path: string, nowMs: number): Promise<{ version: number }> {
    return this.#locks.run(path, async () => {
      const cands = await this.#replicas(path);
      const base = await this.#base(path, cands);
      if (!base || isTombstone(base)) throw notFound(path);
      const tomb = tombstoneOf(base, nowMs);
      await this.#replicateRecord(tomb, cands);
      await this.#blocks.delete(base.blocks.map((b) => b.id));
      return { version: tomb.version };
    });
  }

  /** Rewrites the appended pieces of `path` into full-size blocks (version bump). */
  merge(path: string, nowMs: number): Promise<FileStat> {
    return this.#locks.run(path, async () => {
      const cands = await this.#replicas(path);
      const base = await this.#base(path, cands);
      if (!base || isTombstone(base)) throw notFound(path);
      const plan = planMerge(base);
      if (plan === null) return statMeta(base);
      const written: string[] = [];
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
        await this.#replicateOp(change.record, change.op!, cands);
        this.#dropLater(change.obsolete.map((b) => b.id));
        return statMeta(change.record);
      } catch (e) {
        this.#dropLater(written);
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

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
