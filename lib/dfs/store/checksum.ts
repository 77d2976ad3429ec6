/**
 * Checksums of the storage layer: CRC-32 (native, from `node:zlib`) per
 * 64 KiB chunk and chained over the whole block, verified on every read; and
 * SHA-256 of the whole block, the block's identity checksum recorded in file
 * metadata and in anti-entropy digests.
 *
 * @module
 */
import { crc32 as zlibCrc32 } from "node:zlib";
import { createHash } from "node:crypto";

/** CRC-32 (IEEE) of `bytes`, continuing from `seed` (the CRC of the bytes before). */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return zlibCrc32(bytes, seed) >>> 0;
}

/** Lowercase hex SHA-256 of `bytes` (64 characters). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** True if `s` looks like a lowercase hex SHA-256. */
export function isSha256Hex(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}
