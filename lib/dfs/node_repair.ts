/**
 * Repair and anti-entropy of a DFS node.
 *
 * Every node is responsible for the keys it owns, `(predecessor, self]`. A sync round
 * compares that range with each of its first RF-1 live successors (the other replicas of
 * those keys): blocks through the store's two-level digests (bucket summaries, then the
 * entries of the differing buckets), metadata records through their summaries. What the
 * successor lacks (or holds at an older version) is pushed to it; what this node lacks is
 * pulled from it. So:
 * - when a node dies, its successor now owns its range and pushes it to the new last
 *   replica, and every node whose successor list lost the dead node pushes its own range to
 *   the successor that replaced it;
 * - when a node joins, it pulls the range it now owns from its successors (the previous
 *   owner among them): it receives its share;
 * - periodically, divergence of any cause (a lost write, a corrupted copy rewritten by read
 *   repair) is found and fixed.
 *
 * Rounds run on ring changes (debounced), on membership events and every
 * `antiEntropyMs`; one round at a time.
 *
 * @module
 */
import type { DfsBlockPut, MetaSummary } from "../../proto/dfs.ts";
import type { FileMeta } from "./file_meta.ts";
import type { BlockIo } from "./node_blocks.ts";
import type { NodeContext } from "./node_context.ts";
import { codeOf } from "./node_errors.ts";
import { winsOver } from "./node_meta.ts";
import { ringIdFromHex, ringIdOf, ringIdToHex } from "./ring/id.ts";
import { sha256Hex } from "./store/checksum.ts";
import { diffDigests, type DigestEntry, type RangeDigest } from "./store/digest.ts";

/** Digest buckets per range. */
const BUCKETS = 64;

/**
 * Deadline of one repair transfer: 30 s plus 1 s per MiB. Far shorter than a client
 * transfer's, so a transfer that stalled (a peer that paused, frames lost in a partition)
 * holds up the round, and every record and block after it, for seconds instead of minutes.
 */
export function repairDeadlineMs(bytes: number): number {
  return 30_000 + Math.ceil(bytes / (1024 * 1024)) * 1000;
}

/** What one sync round did. */
export interface RepairStats {
  /** Blocks pushed to successors. */
  blocksPushed: number;
  /** Blocks pulled from successors. */
  blocksPulled: number;
  /** Records pushed. */
  metasPushed: number;
  /** Records pulled. */
  metasPulled: number;
  /** Successors that could not be synced. */
  failed: string[];
}

/** The part of the ring a sync round needs. */
export interface RingSide {
  /** Current predecessor. */
  predecessor(): string | null;
  /** Live successors, nearest first. */
  liveSuccessors(): string[];
  /** True once the node is a ring member. */
  isMember(): boolean;
}

/** Runs sync rounds. */
export class Repairer {
  readonly #ctx: NodeContext;
  readonly #blocks: BlockIo;
  readonly #ring: RingSide;
  #running: Promise<RepairStats> | null = null;
  #again = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Rounds completed. */
  rounds = 0;

  /** Creates the repairer of node `ctx`. */
  constructor(ctx: NodeContext, blocks: BlockIo, ring: RingSide) {
    this.#ctx = ctx;
    this.#blocks = blocks;
    this.#ring = ring;
  }

  /** Runs a round after `delayMs` (merging requests that arrive meanwhile). */
  schedule(delayMs = 300): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.run().catch((e) => {
        this.#ctx.log.warn("repair round failed: {error}", { error: String(e) });
      });
    }, delayMs);
  }

  /** Cancels a scheduled round. */
  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Runs a round now (or, if one is running, once more after it); resolves with its stats. */
  async run(): Promise<RepairStats> {
    while (this.#running) {
      this.#again = true;
      await this.#running.catch(() => {});
      if (!this.#again) return await this.run();
    }
    this.#again = false;
    this.#running = this.#round();
    try {
      return await this.#running;
    } finally {
      this.#running = null;
      this.rounds++;
    }
  }

  async #round(): Promise<RepairStats> {
    const ctx = this.#ctx;
    const stats: RepairStats = {
      blocksPushed: 0,
      blocksPulled: 0,
      metasPushed: 0,
      metasPulled: 0,
      failed: [],
    };
    const pred = this.#ring.predecessor();
    if (!this.#ring.isMember() || pred === null) return stats;
    const start = ringIdToHex(ringIdOf(pred));
    const end = ringIdToHex(ringIdOf(ctx.self));
    const targets = this.#ring.liveSuccessors().filter((s) => s !== ctx.self).slice(0, ctx.rf - 1);
    for (const t of targets) {
      // Blocks and records are synced independently and item by item: one item that cannot be
      // moved (a corrupt local copy, a refusal) must not keep every other one from converging
      // (DFS-4: a replica stayed an op behind while rounds kept failing before its records).
      const errors: string[] = [];
      for (const sync of [this.#syncBlocks, this.#syncMetas]) {
        try {
          await sync.call(this, t, start, end, stats, errors);
        } catch (e) {
          errors.push(String(e));
        }
      }
      if (errors.length > 0) {
        stats.failed.push(t);
        ctx.log.warn("sync with {peer}: {n} failures, first: {error}", {
          peer: t,
          n: errors.length,
          error: errors[0],
        });
      }
    }
    return stats;
  }

  /** Runs `fn`; a failure is noted in `errors` instead of ending the sync. */
  async #each(errors: string[], what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${String(e)}`);
    }
  }

  async #syncBlocks(
    t: string,
    start: string,
    end: string,
    stats: RepairStats,
    errors: string[],
  ): Promise<void> {
    const ctx = this.#ctx;
    const theirs = await ctx.call<RangeDigest>(t, "dfs.digest", { start, end, buckets: BUCKETS });
    const mine = ctx.store.digest(start, end, { buckets: BUCKETS });
    const first = diffDigests(mine, theirs);
    if (first.buckets.length === 0) return;
    const detail = first.buckets;
    const theirsD = await ctx.call<RangeDigest>(t, "dfs.digest", {
      start,
      end,
      buckets: BUCKETS,
      detail,
    });
    const mineD = ctx.store.digest(start, end, { buckets: BUCKETS, detail });
    const diff = diffDigests(mineD, theirsD);
    const theirEntries = new Map<string, DigestEntry>();
    for (const list of Object.values(theirsD.entries ?? {})) {
      for (const e of list) theirEntries.set(e.id, e);
    }
    for (const id of diff.blocks) {
      const my = ctx.store.blockInfo(id);
      const th = theirEntries.get(id);
      if (my && (!th || th.version < my.version)) {
        await this.#each(errors, `push of block ${id}`, async () => {
          const bytes = await ctx.store.getBlock(id, my.version);
          const meta: DfsBlockPut = {
            id,
            version: my.version,
            key: my.key,
            size: bytes.byteLength,
            sha256: my.sha256,
          };
          try {
            await this.#blocks.push(t, meta, bytes, repairDeadlineMs(bytes.byteLength));
          } catch (e) {
            // The peer deleted it (it is garbage): nothing to repair.
            if (codeOf(e) === "dfs_block_deleted") return;
            throw e;
          }
          stats.blocksPushed++;
          ctx.metrics.repairs.inc({ kind: "block", why: "push" });
        });
      } else if (th && (!my || my.version < th.version) && !ctx.store.wasDeleted(id)) {
        await this.#each(errors, `pull of block ${id}`, async () => {
          const deadline = repairDeadlineMs(ctx.blockBytes);
          const bytes = await this.#blocks.fetch(t, id, th.version, undefined, deadline);
          if (sha256Hex(bytes) !== th.sha256) return;
          // The fetched array is ours (`fetch`): handed over with the SHA-256 just verified.
          await ctx.store.putBlock(id, th.version, bytes, th.key, { sha256: th.sha256 });
          stats.blocksPulled++;
          ctx.metrics.repairs.inc({ kind: "block", why: "pull" });
        });
      }
    }
  }

  async #syncMetas(
    t: string,
    start: string,
    end: string,
    stats: RepairStats,
    errors: string[],
  ): Promise<void> {
    const ctx = this.#ctx;
    const { files } = await ctx.call<{ files: MetaSummary[] }>(t, "dfs.meta_range", {
      start,
      end,
    });
    const theirs = new Map(files.map((f) => [f.path, f]));
    for (const s of this.#mineInRange(start, end)) {
      const th = theirs.get(s.path);
      if (!th || winsOver(s, th)) {
        await this.#each(errors, `push of ${s.path}`, async () => {
          const rec = await ctx.localMeta(s.path);
          if (!rec) return;
          const { stored } = await ctx.call<{ stored: boolean }>(t, "dfs.meta_put", {
            record: rec,
          });
          if (!stored) {
            throw new Error(`${t} refused the record (v${rec.version} seq ${rec.appendSeq})`);
          }
          stats.metasPushed++;
          ctx.metrics.repairs.inc({ kind: "meta", why: "push" });
        });
      }
      theirs.delete(s.path);
      if (th && winsOver(th, s)) theirs.set(s.path, th);
    }
    for (const th of theirs.values()) {
      const mineS = ctx.metas.get(th.path);
      if (mineS && !winsOver(th, mineS)) continue;
      await this.#each(errors, `pull of ${th.path}`, async () => {
        const { record } = await ctx.call<{ record: FileMeta | null }>(t, "dfs.meta_get", {
          path: th.path,
        });
        if (record && await ctx.storeMeta(record)) {
          stats.metasPulled++;
          ctx.metrics.repairs.inc({ kind: "meta", why: "pull" });
        }
      });
    }
  }

  #mineInRange(start: string, end: string): MetaSummary[] {
    return this.#ctx.metas.inRange(ringIdFromHex(start), ringIdFromHex(end));
  }
}
