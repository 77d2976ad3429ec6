/**
 * Anti-entropy digests: a compact summary of the blocks whose placement key lies in a ring
 * range, so two replicas can find which blocks differ without listing them all.
 *
 * The range `(start, end]` (Chord's owner interval; `start === end` is the whole ring) is cut
 * into `buckets` equal sub-ranges by placement key. Each bucket carries the number of blocks
 * and the XOR of a 64-bit hash of every block's `(id, version, sha256)`; XOR makes the bucket
 * hash independent of order. Two replicas compare bucket summaries first
 * ({@link diffDigests} lists the differing buckets), then exchange the entries of just those
 * buckets (a digest built with `detail`) and {@link diffDigests} names the block ids that
 * differ: present on one side only, or with another version or checksum. This is a two-level
 * Merkle-style exchange.
 *
 * Pure functions over entries: no I/O.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  array,
  type Infer,
  object,
  optional,
  record,
  type Schema,
  str,
  uint,
} from "../../../proto/schema.ts";
import { distance, inOpenClosed, RING_SIZE, ringIdFromHex } from "../ring/id.ts";

/** One block as seen by anti-entropy. */
export interface DigestEntry {
  /** Block id. */
  id: string;
  /** Stored version. */
  version: number;
  /** SHA-256 of the content. */
  sha256: string;
  /** Placement key, 16 hex digits. */
  key: string;
}

const EntrySchema = object({ id: str(1024), version: uint, sha256: str(64), key: str(16) });
const BucketSchema = object({ count: uint, hash: str(16) });

/** Wire schema of a range digest. */
export const RangeDigestSchema = object({
  start: str(16),
  end: str(16),
  buckets: array(BucketSchema, 65536),
  entries: optional(record(array(EntrySchema, 1 << 20), 65536, 8)),
});

/** A digest of one ring range; `entries` holds full entries of the buckets asked for. */
export type RangeDigest = Infer<typeof RangeDigestSchema>;

/** The schemas of this module, for a `MessageRegistry`. */
export const DIGEST_SCHEMAS: Record<string, Schema<unknown>> = {
  "dfs.range_digest": RangeDigestSchema,
};

/** Options of {@link buildDigest}. */
export interface DigestOptions {
  /** Number of buckets (default 64, at most 65536). */
  buckets?: number;
  /** Buckets whose entries to include, or `"all"`. */
  detail?: readonly number[] | "all";
}

/** The 64-bit hash of one entry, as a bigint. */
function entryHash(e: DigestEntry): bigint {
  const d = createHash("sha256").update(`${e.id}\u0000${e.version}\u0000${e.sha256}`).digest();
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0);
}

/** The bucket of placement key `key` in `(start, end]` cut into `n` buckets. */
export function bucketOf(key: bigint, start: bigint, end: bigint, n: number): number {
  const len = distance(start, end) === 0n ? RING_SIZE : distance(start, end);
  const off = distance(start, key) - 1n; // 0 .. len-1 for keys inside the range
  return Number((off * BigInt(n)) / len);
}

/** Builds the digest of the entries whose placement key is in `(start, end]`. */
export function buildDigest(
  entries: Iterable<DigestEntry>,
  start: string,
  end: string,
  opts: DigestOptions = {},
): RangeDigest {
  const n = opts.buckets ?? 64;
  if (!Number.isSafeInteger(n) || n < 1 || n > 65536) {
    throw new RangeError(`digest buckets must be in [1, 65536], got ${n}`);
  }
  const s = ringIdFromHex(start);
  const e = ringIdFromHex(end);
  const hashes = new Array<bigint>(n).fill(0n);
  const counts = new Array<number>(n).fill(0);
  const want = opts.detail === "all" ? null : new Set(opts.detail ?? []);
  const detail: Record<string, DigestEntry[]> = {};
  for (const entry of entries) {
    const k = ringIdFromHex(entry.key);
    if (!inOpenClosed(k, s, e)) continue;
    const b = bucketOf(k, s, e, n);
    hashes[b] ^= entryHash(entry);
    counts[b]++;
    if (want === null || want.has(b)) {
      (detail[b] ??= []).push({
        id: entry.id,
        version: entry.version,
        sha256: entry.sha256,
        key: entry.key,
      });
    }
  }
  const digest: RangeDigest = {
    start,
    end,
    buckets: hashes.map((h, i) => ({ count: counts[i], hash: h.toString(16).padStart(16, "0") })),
  };
  if (opts.detail !== undefined) {
    for (const b of want ?? hashes.keys()) detail[b] ??= [];
    digest.entries = detail;
  }
  return digest;
}

/** The result of comparing two digests. */
export interface DigestDiff {
  /** Buckets whose summaries differ. */
  buckets: number[];
  /** Block ids that differ, from the buckets for which both digests carry entries. */
  blocks: string[];
  /** Differing buckets for which at least one side lacks entries (ask for their detail). */
  needDetail: number[];
}

/** Compares two digests of the same range and bucket count. */
export function diffDigests(a: RangeDigest, b: RangeDigest): DigestDiff {
  if (a.start !== b.start || a.end !== b.end || a.buckets.length !== b.buckets.length) {
    throw new RangeError("digests cover different ranges or bucket counts");
  }
  const buckets: number[] = [];
  const blocks = new Set<string>();
  const needDetail: number[] = [];
  for (let i = 0; i < a.buckets.length; i++) {
    const x = a.buckets[i];
    const y = b.buckets[i];
    if (x.count === y.count && x.hash === y.hash) continue;
    buckets.push(i);
    const ea = a.entries?.[i];
    const eb = b.entries?.[i];
    if (!ea || !eb) {
      needDetail.push(i);
      continue;
    }
    const mine = new Map(ea.map((e) => [e.id, e]));
    for (const e of eb) {
      const m = mine.get(e.id);
      if (!m || m.version !== e.version || m.sha256 !== e.sha256) blocks.add(e.id);
      mine.delete(e.id);
    }
    for (const id of mine.keys()) blocks.add(id);
  }
  return { buckets, blocks: [...blocks].sort(), needDetail };
}
