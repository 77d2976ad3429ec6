/**
 * Small helpers of `DfsNode`: RPC addresses, file path validation, cutting a byte stream
 * into blocks, and classifying RPC failures.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import type { PeerAddress } from "../transport/types.ts";
import { normalizePath } from "./paths.ts";

/** Parses `host:port`. */
export function parseAddr(addr: string | PeerAddress): PeerAddress {
  if (typeof addr !== "string") return addr;
  const i = addr.lastIndexOf(":");
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ElasticoreError("dfs_bad_address", `"${addr}" is not host:port`);
  }
  return { hostname: addr.slice(0, i).replace(/^\[|\]$/g, ""), port };
}

/** A validated file path (the root is not a file). */
export function filePath(path: string): string {
  const p = normalizePath(path);
  if (p === "/") {
    throw new ElasticoreError("fs_invalid_path", "the root / is a directory, not a file", {
      status: 400,
    });
  }
  return p;
}

/** Cuts a byte stream into blocks of exactly `size` bytes (the last may be shorter). */
export async function* blocksOf(
  body: ReadableStream<Uint8Array> | Uint8Array,
  size: number,
): AsyncGenerator<Uint8Array> {
  if (body instanceof Uint8Array) {
    for (let at = 0; at < body.byteLength; at += size) yield body.subarray(at, at + size);
    return;
  }
  let buf = new Uint8Array(size);
  let fill = 0;
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(size - fill, chunk.byteLength - at);
      buf.set(chunk.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === size) {
        yield buf;
        buf = new Uint8Array(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/** True if the request never reached the peer (safe to send to another replica). */
export function isConnectFailure(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return !/lost with the call in flight/.test(msg) && !/deadline/.test(msg);
}
