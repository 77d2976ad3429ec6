/**
 * User-facing errors of the networked DFS, and the mapping of errors that crossed an RPC
 * (a `TransportError` with a remote code) back to the typed error the remote node raised,
 * so the HTTP API answers with the right code and status wherever the failure happened.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { isTransportError, TransportError } from "../transport/errors.ts";

/** HTTP statuses of the DFS error codes a remote node may report. */
const STATUS: Record<string, number> = {
  fs_not_found: 404,
  fs_exists: 409,
  dfs_exists: 409,
  fs_invalid_path: 400,
  fs_is_root: 400,
  fs_bad_range: 416,
  dfs_quota_exceeded: 413,
  dfs_append_too_large: 413,
  dfs_unavailable: 503,
  dfs_leaving: 503,
  dfs_no_quorum: 503,
  dfs_overloaded: 503,
  dfs_stale_version: 409,
  dfs_version_conflict: 409,
  dfs_meta_conflict: 409,
  dfs_meta_order: 409,
  dfs_bad_meta: 400,
  dfs_bad_request: 400,
  dfs_block_not_found: 404,
  dfs_checksum: 500,
  dfs_size_mismatch: 400,
  dfs_size_precondition: 412,
  dfs_block_deleted: 410,
};

/** `path` does not exist (`fs_not_found`, 404). */
export function notFound(path: string): ElasticoreError {
  return new ElasticoreError("fs_not_found", `${path} does not exist`, {
    hint: "list files with `elasticore fs ls`",
    status: 404,
  });
}

/** `path` exists and the put did not ask to overwrite it (`fs_exists`, 409). */
export function exists(path: string, version: number): ElasticoreError {
  return new ElasticoreError("fs_exists", `${path} already exists (version ${version})`, {
    hint: "pass --overwrite (?overwrite=true) to replace it",
    status: 409,
  });
}

/** Too few live replicas to store or read something (`dfs_unavailable`, 503). */
export function unavailable(message: string): ElasticoreError {
  return new ElasticoreError("dfs_unavailable", message, {
    hint: "the cluster has too few live nodes for the replication factor; retry later",
    status: 503,
  });
}

/** A requested byte range outside the file (`fs_bad_range`, 416). */
export function badRange(message: string): ElasticoreError {
  return new ElasticoreError("fs_bad_range", message, { status: 416 });
}

/** Bytes received do not match what was announced (`dfs_size_mismatch`). */
export function sizeMismatch(message: string): ElasticoreError {
  return new ElasticoreError("dfs_size_mismatch", message, { status: 400 });
}

/**
 * True if `e` means the peer could not be reached or did not answer (worth trying another
 * replica), as opposed to an answer that refused the request. A peer that is leaving the
 * cluster (`dfs_leaving`, `node_handoff.ts`) counts as unreachable.
 */
export function isUnreachable(e: unknown): boolean {
  if (!(e instanceof TransportError)) {
    return !(e instanceof ElasticoreError) || e.code === "dfs_leaving";
  }
  return e.code !== "remote_error" || e.remoteCode === "internal" ||
    e.remoteCode === "unknown_method" || e.remoteCode === "dfs_leaving";
}

/** The code a failure carries: the remote handler's code for a remote error. */
export function codeOf(e: unknown): string {
  if (isTransportError(e, "remote_error")) return e.remoteCode ?? "remote_error";
  if (e instanceof ElasticoreError) return e.code;
  return "internal";
}

const REMOTE_PREFIX = /^[^:]*failed: \[[a-z_]+\] /;

/**
 * The error to show a user for `e`: a remote DFS error becomes the remote node's typed error
 * (its code, message and the status of that code); `dfs_quota_exceeded` is a 413.
 */
export function userError(e: unknown): unknown {
  let err = e;
  if (isTransportError(e, "remote_error") && e.remoteCode && e.remoteCode in STATUS) {
    err = new ElasticoreError(e.remoteCode, e.message.replace(REMOTE_PREFIX, ""), {
      status: STATUS[e.remoteCode],
    });
  }
  if (!(err instanceof ElasticoreError)) return err;
  if (err.code === "dfs_quota_exceeded" && err.status !== 413) {
    return new ElasticoreError(err.code, err.message, { hint: err.hint, status: 413 });
  }
  if (err.code === "dfs_exists") {
    return new ElasticoreError("fs_exists", err.message, {
      hint: "pass --overwrite (?overwrite=true) to replace it",
      status: 409,
    });
  }
  return err;
}

/**
 * A conditional write (`expectSize`) met a file of another size (`dfs_size_precondition`,
 * 412): `op` ("append", "put") names the write that expected `expected` bytes.
 */
export function sizePrecondition(
  path: string,
  size: number,
  expected: number,
  op: string,
): ElasticoreError {
  return new ElasticoreError(
    "dfs_size_precondition",
    `${path} has ${size} bytes, not the ${expected} this ${op} expects`,
    { status: 412, hint: "read the file's size again and decide whether to write" },
  );
}
