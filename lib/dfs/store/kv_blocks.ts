/**
 * The disk tier: blocks stored in Deno KV (`Deno.openKv(path)`, SQLite).
 *
 * Layout (namespace `ns`, `"b"` for data blocks, `"m"` for metadata records):
 * - `[ns, id, version, chunkNo]` → at most 64 KiB of the block (Deno KV's value limit);
 * - `[ns + "h", id]` → the header: version, size, chunk count, CRC-32 of every chunk (inline,
 *   or in `[ns + "c", id, version, page]` pages for very large blocks), the chained CRC-32 of
 *   the whole block, its SHA-256 and its placement key;
 * - `[ns + "i", id, version]` → a write intent: chunks of `(id, version)` may exist that no
 *   header references yet (a write in progress or an old version being collected).
 *
 * Crash safety: a block is written in atomic batches that respect Deno KV's limits (at most
 * 1000 mutations, 800 KiB of keys and values, 80 KiB of keys per atomic). A block that fits in
 * one atomic is written with its header in one commit. A larger block is written as chunk
 * batches first, each also setting the write intent, and the header last, in the batch that
 * removes the intent; so a reader never sees a header whose chunks are not all committed. A
 * crash mid-write leaves only chunks plus an intent, which {@link KvBlockStore.recover}
 * deletes at the next open.
 *
 * Durability: a Deno KV commit resolves only after SQLite committed the transaction in
 * write-ahead-log mode with the default `synchronous=FULL`, i.e. after the WAL was fsynced
 * (one fsync per commit, observed with `strace -e fsync,fdatasync`). {@link KvBlockStore.put}
 * resolves after the header's commit, so an acknowledged block survives a process crash
 * and a power loss.
 *
 * Integrity: every read verifies the CRC-32 of each chunk it touches; a whole-block read also
 * verifies the chained whole-block CRC (and the SHA-256 if `verifySha256`). A mismatch raises
 * {@link DfsChecksumError} and the block is remembered as corrupt (see
 * {@link KvBlockStore.corruptBlocks}) until a good copy is written over it.
 *
 * @module
 */
import { crc32, isSha256Hex, sha256Hex } from "./checksum.ts";
import { badRequest, DfsChecksumError, staleVersion, versionConflict } from "./errors.ts";
import { KeyedMutex } from "./keyed_mutex.ts";
import {
  commitBatch,
  CommitQueue,
  deleteAll,
  KV_MAX_ATOMIC_BYTES,
  type Mutation,
  mutation,
  packBatches,
} from "./kv_batch.ts";
import { hashToRingId, isRingIdHex, ringIdToHex } from "../ring/id.ts";

/** Bytes per chunk: Deno KV's maximum value size. */
export const CHUNK_BYTES = 65536;
/** Key bytes of an old version's deletions that may ride in the new header's commit. */
const INLINE_DROP_KEY_BYTES = 16 * 1024;
/** Longest block id accepted, in UTF-8 bytes (Deno KV keys are at most 2 KiB). */
export const MAX_ID_BYTES = 1900;

/** What the store knows about one stored block, from its header. */
export interface StoredBlockInfo {
  /** Block id. */
  id: string;
  /** Version of the stored copy. */
  version: number;
  /** Size in bytes. */
  size: number;
  /** Lowercase hex SHA-256 of the content. */
  sha256: string;
  /** Placement key on the ring, 16 lowercase hex digits. */
  key: string;
}

/** A byte range of a block: `length` bytes from `offset` (clamped to the block's end). */
export interface ByteRange {
  /** First byte. */
  offset: number;
  /** Number of bytes; omitted means to the end. */
  length?: number;
}

/** Options of {@link KvBlockStore}. */
export interface KvBlockStoreOptions {
  /** Key namespace (default `"b"`). */
  namespace?: string;
  /** Largest block accepted (default 1 GiB). */
  maxBlockBytes?: number;
  /** Blocks with at most this many chunks keep their chunk CRCs in the header (default 4096). */
  inlineCrcChunks?: number;
  /** Chunk CRCs per CRC page for larger blocks (default 8192, a 32 KiB value). */
  crcPageChunks?: number;
  /** Budget of keys plus values per atomic (default 800 KiB minus a 4 KiB margin). */
  atomicBytes?: number;
  /**
   * Block-write commits in flight at once (default 2), handed out oldest write first (see
   * `CommitQueue`).
   */
  pipeline?: number;
  /**
   * Also verify the SHA-256 on whole-block reads (default false: the CRC-32 of every chunk and
   * the chained whole-block CRC-32 are always verified; the SHA-256 roughly halves disk-read
   * throughput on a loaded 2-core machine).
   */
  verifySha256?: boolean;
  /** Called when a read finds a corrupt block. */
  onCorrupt?: (err: DfsChecksumError) => void;
}

interface Header {
  version: number;
  size: number;
  chunks: number;
  crc: number;
  sha256: string;
  key: string;
  crcs: Uint8Array | null;
  pages: number;
}

const encoder = new TextEncoder();

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** The default placement key of a block id: its first 16 hex digits, else a hash of the id. */
export function placementKeyOf(id: string): string {
  const head = id.slice(0, 16);
  return isRingIdHex(head) ? head : ringIdToHex(hashToRingId(id));
}

/** Chunks of a block of `size` bytes. */
export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_BYTES);
}

/** Blocks on Deno KV, chunked, checksummed and written crash-safely. */
export class KvBlockStore {
  readonly #kv: Deno.Kv;
  readonly #ns: string;
  readonly #maxBlock: number;
  readonly #inline: number;
  readonly #pageChunks: number;
  readonly #budget: number;
  readonly #queue: CommitQueue;
  #seq = 0;
  readonly #verifySha: boolean;
  readonly #onCorrupt?: (err: DfsChecksumError) => void;
  readonly #locks = new KeyedMutex();
  readonly #corrupt = new Map<string, number>();

  /** Wraps an open Deno KV handle; the caller owns (and closes) it. */
  constructor(kv: Deno.Kv, opts: KvBlockStoreOptions = {}) {
    this.#kv = kv;
    this.#ns = opts.namespace ?? "b";
    this.#maxBlock = opts.maxBlockBytes ?? 1 << 30;
    this.#inline = opts.inlineCrcChunks ?? 4096;
    this.#pageChunks = opts.crcPageChunks ?? 8192;
    this.#budget = opts.atomicBytes ?? KV_MAX_ATOMIC_BYTES - 4096;
    this.#queue = new CommitQueue(kv, opts.pipeline ?? 2);
    this.#verifySha = opts.verifySha256 ?? false;
    this.#onCorrupt = opts.onCorrupt;
    if (this.#pageChunks * 4 > CHUNK_BYTES || this.#inline * 4 > CHUNK_BYTES / 2) {
      throw new RangeError("CRC pages and inline CRCs must fit in one Deno KV value");
    }
  }

  #chunkKey(id: string, version: number, n: number): Deno.KvKey {
    return [this.#ns, id, version, n];
  }
  #headerKey(id: string): Deno.KvKey {
    return [this.#ns + "h", id];
  }
  #pageKey(id: string, version: number, p: number): Deno.KvKey {
    return [this.#ns + "c", id, version, p];
  }
  #intentKey(id: string, version: number): Deno.KvKey {
    return [this.#ns + "i", id, version];
  }

  #checkId(id: string): void {
    if (typeof id !== "string" || id.length === 0) throw badRequest("block id must be non-empty");
    if (encoder.encode(id).length > MAX_ID_BYTES) {
      throw badRequest(`block id longer than ${MAX_ID_BYTES} bytes`);
    }
  }

  /** Ids of blocks found corrupt by reads, with the corrupt version. */
  corruptBlocks(): Map<string, number> {
    return new Map(this.#corrupt);
  }

  #reportCorrupt(id: string, version: number, chunk: number, detail: string): DfsChecksumError {
    const err = new DfsChecksumError(id, version, chunk, detail);
    this.#corrupt.set(id, version);
    this.#onCorrupt?.(err);
    return err;
  }

  /** Parses a stored header; `undefined` when the value is not a well-formed header. */
  #parseHeader(v: unknown): Header | undefined {
    if (typeof v !== "object" || v === null) return undefined;
    const h = v as Record<string, unknown>;
    if (!isUint(h.version) || !isUint(h.size) || !isUint(h.chunks) || !isUint(h.crc)) return;
    if (!isUint(h.pages) || typeof h.sha256 !== "string" || !isSha256Hex(h.sha256)) return;
    if (typeof h.key !== "string" || !isRingIdHex(h.key)) return;
    if (h.chunks !== chunkCount(h.size)) return;
    if (h.crcs === null) {
      if (h.pages !== Math.ceil(h.chunks / this.#pageChunks) || h.chunks <= this.#inline) return;
    } else if (!(h.crcs instanceof Uint8Array) || h.crcs.length !== h.chunks * 4 || h.pages) {
      return;
    }
    return h as unknown as Header;
  }

  /** The header of `id`: null if absent; throws {@link DfsChecksumError} if unreadable. */
  async #header(id: string): Promise<Header | null> {
    const e = await this.#kv.get(this.#headerKey(id));
    if (e.value === null) return null;
    const h = this.#parseHeader(e.value);
    if (!h) throw this.#reportCorrupt(id, 0, -1, "malformed header");
    return h;
  }

  /** Information about the stored copy of `id`, or null. */
  async head(id: string): Promise<StoredBlockInfo | null> {
    this.#checkId(id);
    const h = await this.#header(id);
    return h && { id, version: h.version, size: h.size, sha256: h.sha256, key: h.key };
  }

  /**
   * Stores `bytes` as version `version` of block `id` and resolves once it is durable.
   * Rewriting the stored version with the same content (repair) is allowed; an older version
   * is refused (`dfs_stale_version`), as is different content under the stored version
   * (`dfs_version_conflict`). Older versions are deleted after the new one is committed.
   * `sha256` is the caller's SHA-256 of exactly these bytes, when it has one (the store then
   * does not hash them again); without it the store computes it.
   */
  put(
    id: string,
    version: number,
    bytes: Uint8Array,
    key?: string,
    sha256?: string,
  ): Promise<StoredBlockInfo> {
    this.#checkId(id);
    if (!isUint(version)) throw badRequest(`block version must be a non-negative integer`);
    if (bytes.length > this.#maxBlock) {
      throw badRequest(`block of ${bytes.length} bytes exceeds the ${this.#maxBlock} byte limit`);
    }
    const placement = key ?? placementKeyOf(id);
    if (!isRingIdHex(placement)) throw badRequest(`placement key must be 16 hex digits`);
    if (sha256 !== undefined && !isSha256Hex(sha256)) {
      throw badRequest(`block SHA-256 must be 64 lowercase hex digits`);
    }
    const chunks = chunkCount(bytes.length);
    const crcs = new Uint8Array(chunks * 4);
    const view = new DataView(crcs.buffer);
    let whole = 0;
    for (let i = 0; i < chunks; i++) {
      const part = bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
      view.setUint32(i * 4, crc32(part));
      whole = crc32(part, whole);
    }
    const sha = sha256 ?? sha256Hex(bytes);
    const inline = chunks <= this.#inline;
    const header: Header = {
      version,
      size: bytes.length,
      chunks,
      crc: whole,
      sha256: sha,
      key: placement,
      crcs: inline ? crcs : null,
      pages: inline ? 0 : Math.ceil(chunks / this.#pageChunks),
    };
    return this.#locks.run(id, () => this.#write(id, header, bytes, crcs));
  }

  async #write(id: string, h: Header, bytes: Uint8Array, crcs: Uint8Array) {
    let old: Header | null | undefined;
    try {
      old = await this.#header(id);
    } catch (e) {
      if (!(e instanceof DfsChecksumError)) throw e;
      old = undefined; // unreadable header: overwritten, its chunks collected by prefix
    }
    if (old && old.version > h.version) throw staleVersion(`block ${id}`, h.version, old.version);
    const knownCorrupt = old && this.#corrupt.get(id) === old.version;
    if (old && old.version === h.version && old.sha256 !== h.sha256 && !knownCorrupt) {
      throw versionConflict(id, h.version);
    }
    const muts: Mutation[] = [];
    for (let i = 0; i < h.chunks; i++) {
      const part = bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
      muts.push(mutation(this.#chunkKey(id, h.version, i), part, part.length));
    }
    for (let p = 0; p < h.pages; p++) {
      const page = crcs.subarray(p * this.#pageChunks * 4, (p + 1) * this.#pageChunks * 4);
      muts.push(mutation(this.#pageKey(id, h.version, p), page, page.length));
    }
    const headerBytes = 512 + (h.crcs?.length ?? 0) + id.length * 3;
    const final = [mutation(this.#headerKey(id), h, headerBytes)];
    final.push(mutation(this.#intentKey(id, h.version), undefined, 0));
    const replacesOld = old !== null && old?.version !== h.version;
    // A small old version is deleted in the header's commit (one commit instead of three).
    const dropInline = !!old && replacesOld &&
      (old.chunks + old.pages) * (encoder.encode(id).length + 32) <= INLINE_DROP_KEY_BYTES;
    if (old && replacesOld) {
      if (dropInline) final.push(...this.#versionMuts(id, old.version, old.chunks, old.pages));
      else final.push(this.#intentMut(id, old.version, old.chunks, old.pages));
    }
    const intent = this.#intentMut(id, h.version, h.chunks, h.pages);
    const batches = packBatches(muts, final, intent, { bytes: this.#budget });
    try {
      // The last batch (the header) is committed once every other one is.
      await this.#queue.write(this.#seq++, batches);
    } catch (e) {
      if (old?.version !== h.version) {
        await this.#removeVersion(id, h.version, h.chunks, h.pages).catch(() => {});
      }
      throw e;
    }
    if (old && replacesOld && !dropInline) {
      await this.#removeVersion(id, old.version, old.chunks, old.pages);
    }
    if (old === undefined) await this.#removeOtherVersions(id, h.version);
    this.#corrupt.delete(id);
    return { id, version: h.version, size: h.size, sha256: h.sha256, key: h.key };
  }

  #intentMut(id: string, version: number, chunks: number, pages: number): Mutation {
    return mutation(this.#intentKey(id, version), { chunks, pages }, 64);
  }

  /** Deletions of the chunks and CRC pages of `(id, version)`. */
  #versionMuts(id: string, version: number, chunks: number, pages: number): Mutation[] {
    const muts: Mutation[] = [];
    for (let i = 0; i < chunks; i++) {
      muts.push(mutation(this.#chunkKey(id, version, i), undefined, 0));
    }
    for (let p = 0; p < pages; p++) {
      muts.push(mutation(this.#pageKey(id, version, p), undefined, 0));
    }
    return muts;
  }

  /** Deletes the chunks and CRC pages of `(id, version)`, then its intent. */
  async #removeVersion(id: string, version: number, chunks: number, pages: number) {
    await deleteAll(this.#kv, this.#versionMuts(id, version, chunks, pages));
    await commitBatch(this.#kv, [mutation(this.#intentKey(id, version), undefined, 0)]);
  }

  /** Deletes every chunk, CRC page and intent of `id` whose version is not `keep`. */
  async #removeOtherVersions(id: string, keep: number | null): Promise<number> {
    const muts: Mutation[] = [];
    for (const prefix of [[this.#ns, id], [this.#ns + "c", id], [this.#ns + "i", id]]) {
      for await (const e of this.#kv.list({ prefix }, { batchSize: 500 })) {
        if (e.key[2] !== keep) muts.push(mutation(e.key, undefined, 0));
      }
    }
    await deleteAll(this.#kv, muts);
    return muts.length;
  }

  /**
   * Reads block `id` (at `version`, if given), whole or a byte range, verifying checksums.
   * Resolves null when the block is absent or stored at another version; throws
   * {@link DfsChecksumError} when the stored copy is corrupt.
   */
  async read(
    id: string,
    version?: number,
    range?: ByteRange,
  ): Promise<{ info: StoredBlockInfo; bytes: Uint8Array } | null> {
    this.#checkId(id);
    // A concurrent replacement may delete the chunks between our header and chunk reads; in
    // that case the header has changed, and the read is retried against the new header.
    for (let attempt = 0;; attempt++) {
      const h = await this.#header(id);
      if (!h || (version !== undefined && h.version !== version)) return null;
      const out = await this.#readChunks(id, h, range);
      if (out !== "missing") {
        return {
          info: { id, version: h.version, size: h.size, sha256: h.sha256, key: h.key },
          bytes: out,
        };
      }
      const now = await this.#header(id);
      if (attempt >= 2 || (now && now.version === h.version && now.sha256 === h.sha256)) {
        throw this.#reportCorrupt(id, h.version, -1, "a chunk named by the header is missing");
      }
    }
  }

  async #chunkCrcs(id: string, h: Header, first: number, last: number): Promise<DataView> {
    if (h.crcs) return new DataView(h.crcs.buffer, h.crcs.byteOffset, h.crcs.byteLength);
    const all = new Uint8Array(h.chunks * 4);
    const p0 = Math.floor(first / this.#pageChunks);
    const p1 = Math.floor(last / this.#pageChunks);
    for (let p = p0; p <= p1; p++) {
      const e = await this.#kv.get(this.#pageKey(id, h.version, p));
      const want = Math.min(this.#pageChunks, h.chunks - p * this.#pageChunks) * 4;
      if (!(e.value instanceof Uint8Array) || e.value.length !== want) {
        throw this.#reportCorrupt(id, h.version, -1, `CRC page ${p} is missing or malformed`);
      }
      all.set(e.value, p * this.#pageChunks * 4);
    }
    return new DataView(all.buffer);
  }

  async #readChunks(id: string, h: Header, range?: ByteRange): Promise<Uint8Array | "missing"> {
    const whole = range === undefined;
    const offset = range?.offset ?? 0;
    if (!isUint(offset) || offset > h.size) {
      throw badRequest(`range offset ${offset} is outside block ${id} of ${h.size} bytes`);
    }
    if (range?.length !== undefined && !isUint(range.length)) {
      throw badRequest(`range length must be a non-negative integer`);
    }
    const length = Math.min(range?.length ?? h.size - offset, h.size - offset);
    const out = new Uint8Array(length);
    if (length === 0) {
      if (whole && sha256Hex(out) !== h.sha256) {
        throw this.#reportCorrupt(id, h.version, -1, "SHA-256 of the empty block does not match");
      }
      return out;
    }
    const first = Math.floor(offset / CHUNK_BYTES);
    const last = Math.floor((offset + length - 1) / CHUNK_BYTES);
    const crcs = await this.#chunkCrcs(id, h, first, last);
    let expect = first;
    let wholeCrc = 0;
    const iter = this.#kv.list<unknown>({
      start: this.#chunkKey(id, h.version, first),
      end: this.#chunkKey(id, h.version, last + 1),
    }, { batchSize: Math.min(last - first + 1, 500) });
    for await (const e of iter) {
      const n = e.key[3];
      if (n !== expect) return "missing";
      const v = e.value;
      const want = Math.min(CHUNK_BYTES, h.size - n * CHUNK_BYTES);
      if (!(v instanceof Uint8Array) || v.length !== want) {
        throw this.#reportCorrupt(id, h.version, n, `chunk has the wrong type or size`);
      }
      if (crc32(v) !== crcs.getUint32(n * 4)) {
        throw this.#reportCorrupt(id, h.version, n, "CRC-32 mismatch");
      }
      if (whole) wholeCrc = crc32(v, wholeCrc);
      const start = n * CHUNK_BYTES;
      const from = Math.max(offset, start) - start;
      const to = Math.min(offset + length, start + v.length) - start;
      out.set(v.subarray(from, to), start + from - offset);
      expect++;
    }
    if (expect !== last + 1) return "missing";
    if (whole) {
      if (wholeCrc !== h.crc) throw this.#reportCorrupt(id, h.version, -1, "block CRC mismatch");
      if (this.#verifySha && sha256Hex(out) !== h.sha256) {
        throw this.#reportCorrupt(id, h.version, -1, "SHA-256 mismatch");
      }
    }
    return out;
  }

  /** Deletes every version of `id`; resolves true if a header existed. */
  delete(id: string): Promise<boolean> {
    this.#checkId(id);
    return this.#locks.run(id, async () => {
      let h: Header | null | undefined;
      try {
        h = await this.#header(id);
      } catch (e) {
        if (!(e instanceof DfsChecksumError)) throw e;
        h = undefined;
      }
      if (h) {
        const intent = this.#intentMut(id, h.version, h.chunks, h.pages);
        await commitBatch(this.#kv, [mutation(this.#headerKey(id), undefined, 0), intent]);
        await this.#removeVersion(id, h.version, h.chunks, h.pages);
      } else {
        await commitBatch(this.#kv, [mutation(this.#headerKey(id), undefined, 0)]);
      }
      await this.#removeOtherVersions(id, null);
      this.#corrupt.delete(id);
      return h !== null;
    });
  }

  /**
   * Every stored block's header information in id order, or of the ids starting with
   * `prefix`; malformed headers are reported as corrupt and skipped.
   */
  async *list(prefix = ""): AsyncGenerator<StoredBlockInfo> {
    const sel = prefix
      ? { prefix: [this.#ns + "h"], start: [this.#ns + "h", prefix] }
      : { prefix: [this.#ns + "h"] };
    for await (const e of this.#kv.list(sel, { batchSize: 500 })) {
      const id = e.key[1];
      if (typeof id !== "string") continue;
      if (!id.startsWith(prefix)) break;
      const h = this.#parseHeader(e.value);
      if (!h) {
        this.#reportCorrupt(id, 0, -1, "malformed header");
        continue;
      }
      yield { id, version: h.version, size: h.size, sha256: h.sha256, key: h.key };
    }
  }

  /**
   * Finishes interrupted writes and collections left by a crash: for every write intent whose
   * version is not the committed one, deletes that version's chunks. Run it before any write
   * (the node store does so when it opens). Resolves the number of intents resolved.
   */
  async recover(): Promise<number> {
    const intents: Array<{ id: string; version: number; chunks: number; pages: number }> = [];
    for await (const e of this.#kv.list({ prefix: [this.#ns + "i"] })) {
      const [, id, version] = e.key;
      const v = e.value as { chunks?: unknown; pages?: unknown } | null;
      if (typeof id !== "string" || typeof version !== "number") continue;
      intents.push({
        id,
        version,
        chunks: isUint(v?.chunks) ? v.chunks : -1,
        pages: isUint(v?.pages) ? v.pages : -1,
      });
    }
    for (const it of intents) {
      await this.#locks.run(it.id, async () => {
        let h: Header | null = null;
        try {
          h = await this.#header(it.id);
        } catch (e) {
          if (!(e instanceof DfsChecksumError)) throw e;
        }
        if (h && h.version === it.version) {
          await commitBatch(this.#kv, [mutation(this.#intentKey(it.id, it.version), undefined, 0)]);
        } else if (it.chunks < 0 || it.pages < 0) {
          await this.#removeOtherVersions(it.id, h ? h.version : null);
        } else {
          await this.#removeVersion(it.id, it.version, it.chunks, it.pages);
        }
      });
    }
    return intents.length;
  }
}
