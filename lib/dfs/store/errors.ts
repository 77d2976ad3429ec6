/**
 * Typed errors of the DFS storage layer. Every error is an
 * {@link ElasticoreError} with a stable code, so the API and the CLI report it
 * the same way; the checksum error also names the block so repair can fetch a
 * good replica.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";

/** A stored block failed checksum verification (stable code `dfs_checksum`). */
export class DfsChecksumError extends ElasticoreError {
  /** The corrupt block. */
  readonly blockId: string;
  /** Version of the corrupt copy. */
  readonly version: number;
  /** The failing chunk, or -1 when the header or the whole-block checksum failed. */
  readonly chunk: number;

  /** Creates the error for `blockId` at `version`. */
  constructor(blockId: string, version: number, chunk: number, detail: string) {
    super(
      "dfs_checksum",
      `block ${blockId} v${version}${chunk >= 0 ? ` chunk ${chunk}` : ""} is corrupt: ${detail}`,
      { hint: "the copy on this node is reported for repair; read another replica", status: 500 },
    );
    this.blockId = blockId;
    this.version = version;
    this.chunk = chunk;
  }
}

/** The node's storage quota would be exceeded (`dfs_quota_exceeded`); nothing was written. */
export function quotaExceeded(needed: number, used: number, quota: number): ElasticoreError {
  return new ElasticoreError(
    "dfs_quota_exceeded",
    `storing ${needed} bytes would exceed this node's quota: ${used} of ${quota} bytes used`,
    { hint: "raise dfs.quota_bytes, delete files, or add nodes", status: 507 },
  );
}

/** A write of an older version than the stored one (`dfs_stale_version`). */
export function staleVersion(what: string, version: number, stored: number): ElasticoreError {
  return new ElasticoreError(
    "dfs_stale_version",
    `${what}: version ${version} is older than the stored version ${stored}`,
    { status: 409 },
  );
}

/** Two different contents for the same (id, version) (`dfs_version_conflict`). */
export function versionConflict(blockId: string, version: number): ElasticoreError {
  return new ElasticoreError(
    "dfs_version_conflict",
    `block ${blockId} v${version} already exists with different content`,
    { hint: "a new content needs a new version", status: 409 },
  );
}

/** A block this node deleted: block ids are never reused, so it is garbage (`dfs_block_deleted`). */
export function blockDeleted(blockId: string): ElasticoreError {
  return new ElasticoreError(
    "dfs_block_deleted",
    `block ${blockId} was deleted on this node and is not stored again`,
    { status: 410 },
  );
}

/** A block that is not stored here, or not at the requested version (`dfs_block_not_found`). */
export function blockNotFound(blockId: string, version?: number): ElasticoreError {
  return new ElasticoreError(
    "dfs_block_not_found",
    `block ${blockId}${version === undefined ? "" : ` v${version}`} is not stored on this node`,
    { status: 404 },
  );
}

/** Invalid input to the storage layer (`dfs_bad_request`), naming what is wrong. */
export function badRequest(message: string): ElasticoreError {
  return new ElasticoreError("dfs_bad_request", message, { status: 400 });
}

/** Too many writes are waiting for write-buffer space (`dfs_overloaded`). */
export function overloaded(waiting: number): ElasticoreError {
  return new ElasticoreError(
    "dfs_overloaded",
    `the DFS write buffer is full and ${waiting} writes are already waiting`,
    { hint: "retry later", status: 503 },
  );
}
