/**
 * `DfsNode`: one node of the Chord DFS. It is the I/O shell of the ring core (`RingNode`):
 * ring messages over the RPC layer, ticks from the real clock, membership from SWIM (or a
 * static list) through {@link DfsNode.memberJoined} / {@link DfsNode.memberDead}; and it
 * serves the file protocol:
 *
 * - put: the client-facing node (any node) cuts the streamed content into `block_bytes`
 *   blocks of a fresh incarnation, stores each on the RF live successors of its key (W = RF,
 *   see `node_blocks.ts`), then asks the metadata primary (first live replica of
 *   `metadataKey(path)`) to commit the record, which it writes to the RF metadata replicas.
 *   The record is written last, so a reader never sees a half-written version; a put that
 *   fails leaves no record and its blocks are deleted.
 * - append: the bytes go to the primary, which orders them (group commit, `node_primary.ts`).
 * - get (whole or a byte range, streamed), stat: the record is read from every live metadata
 *   replica and the newest is used (if none has it, every other live member is asked before
 *   the answer is "not found"; `node_read_meta.ts`); blocks are read from the nearest good
 *   replica.
 * - ls: every live member lists its local records under the prefix; the asking node keeps
 *   the newest version of each path and drops tombstones.
 * - rm (tombstone, then block deletion) and merge go to the primary.
 * - repair and anti-entropy: `node_repair.ts`; leaving for good: `node_handoff.ts`.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { type RingMessage, ringMessages } from "../../proto/dfs_ring.ts";
import { MAX_INLINE_APPEND, type MetaSummary } from "../../proto/dfs.ts";
import { getLogger } from "../log/mod.ts";
import { MetricsRegistry } from "../metrics.ts";
import type { Rpc } from "../transport/rpc.ts";
import type { CallOptions } from "../transport/rpc_types.ts";
import type { PeerAddress } from "../transport/types.ts";
import { type BlockContent, blockIdFor, type FileMeta, type FileStat } from "./file_meta.ts";
import { BlockIo } from "./node_blocks.ts";
import { type DfsMetrics, dfsMetrics, type NodeContext } from "./node_context.ts";
import { codeOf, isUnreachable, notFound, unavailable, userError } from "./node_errors.ts";
import { compareRecords, isTombstone, MetaIndex, statOf, summaryOf } from "./node_meta.ts";
import { MAX_APPEND_BYTES, newFileId, Primary } from "./node_primary.ts";
import { readMetaRecord } from "./node_read_meta.ts";
import { handOffAndAnnounce, type HandoffStats, leavingError } from "./node_handoff.ts";
import { Repairer, type RepairStats } from "./node_repair.ts";
import { type FileRange, type FileRead, readBody } from "./node_read.ts";
import { serveDfs } from "./node_serve.ts";
import { RingLocator } from "./node_ring.ts";
import { blocksOf, filePath, isConnectFailure, parseAddr } from "./node_util.ts";
import { ElasticoreError } from "../errors.ts";
import { metadataKey, type RingId } from "./ring/id.ts";
import { readAll } from "./node_blocks.ts";
import { sha256Hex } from "./store/checksum.ts";
import type { NodeStore } from "./store/node_store.ts";
import type { MetaOrder } from "./meta_order.ts";
import type { WriteFence } from "./write_fence.ts";

/** Records kept in memory after they were stored (the hot files' metadata). */
const RECENT_RECORDS = 256;

export { filePath, parseAddr };
export type { FileRange, FileRead };

/** Options of a {@link DfsNode}. */
export interface DfsNodeOptions {
  /** This node's id (the RPC layer's node id). */
  id: string;
  /** The RPC layer; its registry must contain `dfsMessages` (`proto/dfs.ts`). */
  rpc: Rpc;
  /** Local storage. */
  store: NodeStore;
  /** Replication factor, `dfs.replication` (default 3). */
  replication?: number;
  /** Block size of new files, `dfs.block_bytes` (default 4 MiB). */
  blockBytes?: number;
  /** Metrics registry. */
  metrics?: MetricsRegistry;
  /** Milliseconds per ring tick (default 100). */
  tickMs?: number;
  /** Milliseconds between anti-entropy rounds; 0 turns periodic rounds off (default 30 s). */
  antiEntropyMs?: number;
  /** Logger (default category elasticore/dfs). */
  logger?: Logger;
  /**
   * The primary's write fence (`write_fence.ts`; `startDfs` wires the Raft one). Rings
   * without Raft masters (tests, fixture, benchmarks) pass a `LocalFence` explicitly.
   */
  fence: WriteFence;
}

/** How a node enters the ring. */
export interface DfsStartOptions {
  /** Known members (this node included or not) and their RPC addresses (`host:port`). */
  members?: Record<string, string | PeerAddress>;
  /**
   * True: join the existing ring through the members (a new node). False (default): the
   * members are the whole initial ring (static configuration, Zave's initialization).
   */
  join?: boolean;
}

/** See the module documentation. */
export class DfsNode implements NodeContext {
  /** This node's id. */
  readonly self: string;
  /** Replication factor. */
  readonly rf: number;
  /** Block size of new files. */
  readonly blockBytes: number;
  /** Local storage. */
  readonly store: NodeStore;
  /** The RPC layer. */
  readonly rpc: Rpc;
  /** Summaries of the records stored here. */
  readonly metas = new MetaIndex();
  /** Metrics. */
  readonly metrics: DfsMetrics;
  /** Logger. */
  readonly log: Logger;
  /** Ring shell and placement. */
  readonly ring: RingLocator;
  /** The write fence of the metadata primary. */
  readonly fence: WriteFence;
  readonly #blocks: BlockIo;
  readonly #primary: Primary;
  readonly #repair: Repairer;
  readonly #antiEntropyMs: number;
  #aeTimer: ReturnType<typeof setInterval> | undefined;
  /** Recently stored records (treated as immutable), newest last. */
  readonly #recent = new Map<string, FileMeta>();
  #started = false;
  /** Set by {@link decommission}: metadata reads and stores are refused from then on. */
  #leaving = false;
  /** Local metadata writes under way (a hand-off waits for them). */
  #metaWrites = 0;

  /** Creates the node and registers its RPC handlers; call {@link start} next. */
  constructor(opts: DfsNodeOptions) {
    this.self = opts.id;
    this.rf = opts.replication ?? 3;
    this.blockBytes = opts.blockBytes ?? 4 * 1024 * 1024;
    if (!Number.isInteger(this.rf) || this.rf < 1) throw new RangeError("replication must be >= 1");
    this.store = opts.store;
    this.rpc = opts.rpc;
    this.metrics = dfsMetrics(opts.metrics ?? new MetricsRegistry());
    this.log = opts.logger ?? getLogger("dfs");
    this.#antiEntropyMs = opts.antiEntropyMs ?? 30_000;
    this.fence = opts.fence;
    this.ring = new RingLocator({
      self: this.self,
      rf: this.rf,
      rpc: this.rpc,
      tickMs: opts.tickMs ?? 100,
      onChange: () => this.#onRingChange(),
      onStatus: (event, detail) => {
        this.log.info("DFS ring: {event} ({detail})", { event, detail });
      },
    });
    this.#blocks = new BlockIo(this);
    this.#primary = new Primary(this, this.#blocks, this.fence);
    this.#repair = new Repairer(this, this.#blocks, this.ring);
    for (const type of Object.keys(ringMessages)) {
      this.rpc.handle(type, (body, ctx) => {
        this.ring.step(ctx.peer, { type, body } as RingMessage);
      });
    }
    // The authenticated sender, not a name in the body, is the member that departed.
    this.rpc.handle("dfs.departed", (_body, ctx) => {
      this.log.info("DFS: {peer} handed its metadata off and left", { peer: ctx.peer });
      this.ring.memberDeparted(ctx.peer);
      return {};
    });
    serveDfs(this, this.#primary);
  }

  /** Loads the metadata index and enters the ring. */
  async start(opts: DfsStartOptions = {}): Promise<void> {
    if (this.#started) throw new Error("DfsNode already started");
    this.#started = true;
    for (const rec of await this.store.listMeta("", Number.MAX_SAFE_INTEGER)) this.metas.set(rec);
    const members: Record<string, PeerAddress> = {};
    for (const [id, addr] of Object.entries(opts.members ?? {})) members[id] = parseAddr(addr);
    this.ring.start(members, opts.join ?? false);
    if (this.#antiEntropyMs > 0) {
      this.#aeTimer = setInterval(() => this.#repair.schedule(0), this.#antiEntropyMs);
    }
  }

  /** Stops ticks, repair and anti-entropy (the RPC layer and the store stay open). */
  stop(): void {
    this.ring.stop();
    this.#repair.cancel();
    if (this.#aeTimer !== undefined) clearInterval(this.#aeTimer);
    this.#aeTimer = undefined;
  }

  /** Membership: `id` joined (or came back) at RPC address `rpcAddr`. */
  memberJoined(id: string, rpcAddr: string | PeerAddress): void {
    if (id === this.self) return;
    this.ring.memberJoined(id, parseAddr(rpcAddr));
  }

  /** Membership: `id` is dead. */
  memberDead(id: string): void {
    if (id === this.self) return;
    this.ring.memberDead(id);
  }

  #onRingChange(): void {
    this.fence.expire(); // serving as primary after a ring change needs a fresh confirmation
    this.#primary.resetEpoch();
    this.#repair.schedule();
  }

  // ---- NodeContext ----

  /** See {@link NodeContext.locate}. */
  locate(key: RingId, extra = 0): Promise<string[]> {
    return this.ring.locate(key, extra);
  }

  /** See {@link NodeContext.quorumOwners}. */
  quorumOwners(key: RingId): string[] {
    return this.ring.quorumOwners(key);
  }

  /** See {@link NodeContext.isDead}. */
  isDead(id: string): boolean {
    return this.ring.isDead(id);
  }

  /** See {@link NodeContext.suspect}. */
  suspect(id: string): void {
    this.ring.suspect(id);
  }

  /** See {@link NodeContext.trust}. */
  trust(id: string): void {
    this.ring.trust(id);
  }

  /** See {@link NodeContext.call}. */
  call<R>(peer: string, type: string, body: unknown, opts?: CallOptions): Promise<R> {
    return this.rpc.call<R>(peer, type, body, { deadlineMs: 30_000, ...opts });
  }

  /** See {@link NodeContext.storeMeta}. */
  async storeMeta(rec: FileMeta): Promise<boolean> {
    if (this.#leaving) throw leavingError(this.self);
    let stored: FileMeta;
    this.#metaWrites++;
    try {
      stored = await this.store.putMeta(rec.path, rec);
    } catch (e) {
      // Refused: the stored record is newer, or another record with the same order.
      const code = e instanceof ElasticoreError ? e.code : "";
      if (code === "dfs_stale_version" || code === "dfs_meta_conflict") return false;
      throw e;
    } finally {
      this.#metaWrites--;
    }
    this.#noteStored(stored); // what the store holds now (confirmed points merged)
    return true;
  }

  #noteStored(rec: FileMeta): void {
    this.metas.set(rec);
    this.#recent.delete(rec.path);
    this.#recent.set(rec.path, rec);
    if (this.#recent.size > RECENT_RECORDS) {
      this.#recent.delete(this.#recent.keys().next().value!);
    }
  }

  /** See {@link NodeContext.markMeta}. */
  async markMeta(path: string, mark: MetaOrder, head: string): Promise<boolean> {
    // Taken while leaving too: it only confirms a record this node already holds, and refusing
    // it would turn a change already on its other replicas into an unknown outcome.
    this.#metaWrites++;
    const rec = await this.store.markMeta(path, mark, head).finally(() => this.#metaWrites--);
    if (rec) this.#noteStored(rec);
    return rec !== null;
  }

  /** See {@link NodeContext.localMeta}. Recently stored records are served from memory. */
  async localMeta(path: string): Promise<FileMeta | null> {
    if (this.#leaving) throw leavingError(this.self);
    const hit = this.#recent.get(path);
    if (hit) return hit;
    return await this.store.getMeta(path);
  }

  /**
   * Leaves the DFS for good (`node_handoff.ts`): refuses metadata reads and stores from now
   * on (confirmations are still taken), copies each local record to the owners its key has
   * without this node, and, when every record reached a majority of them, tells the live
   * members this node departed. Returns what was copied and whether they were told; the
   * caller then stops the node.
   */
  async decommission(deadlineMs = 20_000): Promise<HandoffStats & { announced: number }> {
    this.#leaving = true;
    this.#repair.cancel();
    if (this.#aeTimer !== undefined) clearInterval(this.#aeTimer);
    this.#aeTimer = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.#metaWrites > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return await handOffAndAnnounce(this, deadline);
  }

  // ---- diagnostics ----

  /** Runs one repair / anti-entropy round now. */
  repairNow(): Promise<RepairStats> {
    return this.#repair.run();
  }

  /** Ids of the blocks this node stores. */
  localBlocks(): string[] {
    return [...this.store.blocks()].map((b) => b.id);
  }

  // ---- the file protocol, client side ----

  async #op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.metrics.ops.inc({ op, result: "ok" });
      return r;
    } catch (e) {
      const err = userError(e);
      this.metrics.ops.inc({
        op,
        result: err instanceof ElasticoreError ? err.code : "internal",
      });
      throw err;
    }
  }

  /**
   * The newest record of `path` among its metadata replicas and quorum owners, or null
   * (`readMetaRecord`, `node_read_meta.ts`); with `allReplicas` every owner must answer.
   */
  async readMeta(path: string, opts: { allReplicas?: boolean } = {}): Promise<FileMeta | null> {
    return await readMetaRecord(this, this.ring, path, opts, () => this.#repair.schedule());
  }

  async #live(path: string, opts: { allReplicas?: boolean } = {}): Promise<FileMeta> {
    const rec = await this.readMeta(path, opts);
    if (!rec || isTombstone(rec)) throw notFound(path);
    return rec;
  }

  /** Sends a request to the metadata primary of `path`, falling back to the next replica. */
  async #toPrimary<R>(path: string, local: () => Promise<R>, remote: (p: string) => Promise<R>) {
    const cands = await this.locate(metadataKey(path), 2);
    if (cands.length < this.rf) {
      throw unavailable(`${cands.length} live nodes for the metadata of ${path}; need ${this.rf}`);
    }
    let last: unknown = null;
    for (const peer of cands.slice(0, 2)) {
      try {
        return peer === this.self ? await local() : await remote(peer);
      } catch (e) {
        if (!isUnreachable(e) || !isConnectFailure(e)) throw e;
        this.suspect(peer);
        last = e;
      }
    }
    throw last;
  }

  /**
   * Stores a file: refuses to replace an existing one unless `overwrite`. Resolves once the
   * content and the record are on RF replicas.
   */
  put(
    path: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    opts: { overwrite?: boolean; nowMs?: number; expectSize?: number } = {},
  ): Promise<FileStat> {
    return this.#op("put", async () => {
      const p = filePath(path);
      const pre = await this.readMeta(p);
      if (pre && !isTombstone(pre) && !opts.overwrite) {
        throw userError(new ElasticoreError("dfs_exists", `${p} already exists`));
      }
      const fileId = newFileId();
      const contents: BlockContent[] = [];
      const written: string[] = [];
      const inflight: Promise<unknown>[] = [];
      let committing = false;
      // Cut from a stream, a block is a fresh array of blocksOf's; from an array, a view of
      // the caller's bytes, which the local replica must copy.
      const handOver = !(body instanceof Uint8Array);
      try {
        for await (const block of blocksOf(body, this.blockBytes)) {
          const id = blockIdFor(p, fileId, contents.length);
          const sha = sha256Hex(block);
          contents.push({ size: block.byteLength, checksum: sha });
          written.push(id);
          this.metrics.bytesIn.inc(undefined, block.byteLength);
          const w = this.#blocks.store({ id, version: 1, bytes: block, sha256: sha, handOver });
          w.catch(() => {});
          inflight.push(w);
          if (inflight.length >= 3) await inflight.shift();
        }
        await Promise.all(inflight);
        const req = {
          path: p,
          fileId,
          blockBytes: this.blockBytes,
          blocks: contents,
          overwrite: opts.overwrite ?? false,
          nowMs: opts.nowMs ?? Date.now(),
          ...(opts.expectSize === undefined ? {} : { expectSize: opts.expectSize }),
        };
        committing = true;
        return await this.#toPrimary(
          p,
          () => this.#primary.commit(req),
          (peer) => this.call<FileStat>(peer, "dfs.commit", req),
        );
      } catch (e) {
        await Promise.allSettled(inflight);
        // A commit that failed part-way may have reached some metadata replicas: keep the
        // blocks then, unless the primary refused it outright.
        const code = codeOf(e);
        const refused = code === "fs_exists" || code === "dfs_exists" ||
          code === "dfs_size_precondition";
        // Deleted before the error is returned: a refused put leaves nothing behind.
        if (!committing || refused) await this.#blocks.delete(written).catch(() => {});
        throw e;
      }
    });
  }

  /**
   * Appends bytes to `path` (created if missing); resolves once they are on RF replicas. With
   * `expectSize`, only if the file then has exactly that many bytes (see `Primary.append`).
   */
  append(
    path: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    opts: { expectSize?: number } = {},
  ): Promise<FileStat> {
    return this.#op("append", async () => {
      const p = filePath(path);
      const bytes = body instanceof Uint8Array
        ? body
        : await readAll(body, MAX_APPEND_BYTES, `append to ${p}`).catch((e) => {
          throw e instanceof ElasticoreError && e.code === "dfs_size_mismatch"
            ? new ElasticoreError(
              "dfs_append_too_large",
              `an append carries at most ${MAX_APPEND_BYTES} bytes`,
              { status: 413 },
            )
            : e;
        });
      this.metrics.bytesIn.inc(undefined, bytes.byteLength);
      const nowMs = Date.now();
      const expect = opts.expectSize === undefined ? {} : { expectSize: opts.expectSize };
      return await this.#toPrimary(
        p,
        () => this.#primary.append(p, bytes, nowMs, opts.expectSize),
        async (peer) => {
          if (bytes.byteLength <= MAX_INLINE_APPEND) {
            return await this.call<FileStat>(peer, "dfs.append_bytes", {
              path: p,
              nowMs,
              data: bytes,
              ...expect,
            }, { deadlineMs: 120_000 });
          }
          const meta = { path: p, nowMs, ...expect };
          const s = await this.rpc.openStream(peer, "dfs.append", meta, {
            deadlineMs: 120_000,
          });
          const w = s.writable.getWriter();
          const wrote = (async () => {
            for (let at = 0; at < bytes.byteLength; at += 256 * 1024) {
              await w.write(bytes.subarray(at, at + 256 * 1024));
            }
            await w.close();
          })();
          wrote.catch(() => {});
          const stat = await s.result as FileStat;
          return stat;
        },
      );
    });
  }

  /**
   * The metadata of `path` (`fs_not_found` if it does not exist); `allReplicas` as in
   * {@link readMeta}.
   */
  stat(path: string, opts: { allReplicas?: boolean } = {}): Promise<FileStat> {
    return this.#op(
      "stat",
      async () => statOf(summaryOf(await this.#live(filePath(path), opts))),
    );
  }

  /** Reads `path`, whole or a byte range; the body streams block by block. */
  get(path: string, range?: FileRange): Promise<FileRead> {
    return this.#op("get", async () => {
      const rec = await this.#live(filePath(path));
      const offset = range?.offset ?? 0;
      if (!Number.isSafeInteger(offset) || offset < 0 || (offset > 0 && offset >= rec.size)) {
        throw new ElasticoreError(
          "fs_bad_range",
          `range starts at ${offset}, past the end of ${rec.path} (${rec.size} bytes)`,
          { status: 416 },
        );
      }
      const length = Math.min(range?.length ?? rec.size - offset, rec.size - offset);
      const body = readBody(this.#blocks, rec, offset, length, (n) => {
        this.metrics.bytesOut.inc(undefined, n);
      });
      return { stat: statOf(summaryOf(rec)), offset, length, body };
    });
  }

  /** Lists the files whose path starts with `prefix` (newest version of each, no tombstones). */
  list(prefix = "/", limit = 10_000): Promise<FileStat[]> {
    return this.#op("ls", async () => {
      const peers = this.ring.liveMembers();
      const all = await Promise.all(peers.map(async (peer) => {
        if (peer === this.self) return this.metas.list(prefix, limit);
        try {
          return (await this.call<{ files: MetaSummary[] }>(peer, "dfs.meta_list", {
            prefix,
            limit,
          }, { deadlineMs: 5000 })).files;
        } catch {
          return [];
        }
      }));
      const best = new Map<string, MetaSummary>();
      for (const list of all) {
        for (const s of list) {
          const cur = best.get(s.path);
          if (!cur || compareRecords(s, cur) > 0) best.set(s.path, s);
        }
      }
      return [...best.values()].filter((s) => !s.deleted)
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        .slice(0, limit).map(statOf);
    });
  }

  /** Removes `path`: a tombstone with a new version, then its blocks are deleted. */
  remove(path: string): Promise<{ path: string; version: number }> {
    return this.#op("rm", async () => {
      const p = filePath(path);
      const nowMs = Date.now();
      const r = await this.#toPrimary(
        p,
        () => this.#primary.remove(p, nowMs),
        (peer) => this.call<{ version: number }>(peer, "dfs.remove", { path: p, nowMs }),
      );
      return { path: p, version: r.version };
    });
  }

  /** Merges the appended pieces of `path` into full-size blocks (version bump). */
  merge(path: string): Promise<FileStat> {
    return this.#op("merge", async () => {
      const p = filePath(path);
      const nowMs = Date.now();
      return await this.#toPrimary(
        p,
        () => this.#primary.merge(p, nowMs),
        (peer) =>
          this.call<FileStat>(peer, "dfs.merge", { path: p, nowMs }, { deadlineMs: 600_000 }),
      );
    });
  }
}
