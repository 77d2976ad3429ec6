/**
 * The Chord identifier space: 64-bit ring identifiers derived from SHA-256,
 * placement keys for file metadata and blocks, and interval arithmetic on the
 * ring (open, half-open and closed intervals with wrap-around).
 *
 * Identifiers are `bigint`s in `[0, 2^64)`. Every interval `(a, b)` is read
 * clockwise from `a` to `b`; when `a === b` the open interval is the whole
 * ring except `a`, and `(a, a]` is the whole ring (the Chord convention for a
 * ring of one node).
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Bits in a ring identifier. */
export const RING_BITS = 64;

/** Number of identifiers on the ring, `2^64`. */
export const RING_SIZE: bigint = 1n << 64n;

const MASK: bigint = RING_SIZE - 1n;

/** A position on the ring: an integer in `[0, 2^64)`. */
export type RingId = bigint;

const encoder = new TextEncoder();

/** The first 8 bytes of SHA-256 of `data`, as a big-endian ring identifier. */
export function hashToRingId(data: string | Uint8Array): RingId {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const digest = createHash("sha256").update(bytes).digest();
  const view = new DataView(digest.buffer, digest.byteOffset, 8);
  return view.getBigUint64(0, false);
}

const nodeIdCache = new Map<string, RingId>();
const NODE_CACHE_MAX = 65536;

/** The ring identifier of a node: SHA-256 of its node id, truncated to 64 bits (cached). */
export function ringIdOf(nodeId: string): RingId {
  let id = nodeIdCache.get(nodeId);
  if (id === undefined) {
    id = hashToRingId(nodeId);
    if (nodeIdCache.size >= NODE_CACHE_MAX) nodeIdCache.clear();
    nodeIdCache.set(nodeId, id);
  }
  return id;
}

/**
 * Placement key of a file's metadata: `hash(path)`. The path must already be
 * validated (see `lib/dfs/paths.ts`); it never contains NUL, which separates
 * the domain tag from the path.
 */
export function metadataKey(path: string): RingId {
  return hashToRingId(`meta\u0000${path}`);
}

/** Placement key of block `blockNo` of the file at `path`: `hash(path, blockNo)`. */
export function blockKey(path: string, blockNo: number): RingId {
  if (!Number.isSafeInteger(blockNo) || blockNo < 0) {
    throw new RangeError(`block number must be a non-negative integer, got ${blockNo}`);
  }
  return hashToRingId(`block\u0000${path}\u0000${blockNo}`);
}

/** `x` reduced onto the ring (modulo `2^64`). */
export function wrap(x: bigint): RingId {
  return x & MASK;
}

/** Clockwise distance from `a` to `b`: `(b - a) mod 2^64`. */
export function distance(a: RingId, b: RingId): bigint {
  return (b - a) & MASK;
}

/** `base + 2^i` on the ring: the start of finger `i` of a node at `base`. */
export function fingerStart(base: RingId, i: number): RingId {
  if (!Number.isInteger(i) || i < 0 || i >= RING_BITS) {
    throw new RangeError(`finger index must be in [0, ${RING_BITS}), got ${i}`);
  }
  return (base + (1n << BigInt(i))) & MASK;
}

/** True if `x` lies in the open interval `(a, b)`; `(a, a)` is the ring without `a`. */
export function inOpen(x: RingId, a: RingId, b: RingId): boolean {
  const dx = distance(a, x);
  if (dx === 0n) return false;
  const db = distance(a, b);
  return db === 0n || dx < db;
}

/** True if `x` lies in `(a, b]`; `(a, a]` is the whole ring. */
export function inOpenClosed(x: RingId, a: RingId, b: RingId): boolean {
  const db = distance(a, b);
  if (db === 0n) return true;
  const dx = distance(a, x);
  return dx !== 0n && dx <= db;
}

/** True if `x` lies in `[a, b)`; `[a, a)` is the whole ring. */
export function inClosedOpen(x: RingId, a: RingId, b: RingId): boolean {
  const db = distance(a, b);
  if (db === 0n) return true;
  return distance(a, x) < db;
}

/** True if `x` lies in `[a, b]`; `[a, a]` is just `a`. */
export function inClosed(x: RingId, a: RingId, b: RingId): boolean {
  return distance(a, x) <= distance(a, b);
}

/** A ring identifier as exactly 16 lowercase hex digits (its wire form). */
export function ringIdToHex(id: RingId): string {
  return wrap(id).toString(16).padStart(16, "0");
}

const HEX16 = /^[0-9a-f]{16}$/;

/** Parses 16 lowercase hex digits into a ring identifier; throws `RangeError` otherwise. */
export function ringIdFromHex(hex: string): RingId {
  if (!HEX16.test(hex)) throw new RangeError(`ring id must be 16 lowercase hex digits: ${hex}`);
  return BigInt(`0x${hex}`);
}

/** True if `hex` is a well-formed ring identifier (16 lowercase hex digits). */
export function isRingIdHex(hex: string): boolean {
  return HEX16.test(hex);
}
