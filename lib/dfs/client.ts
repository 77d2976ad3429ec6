/**
 * The DFS client over the HTTP API (`/v1/fs`), used by `elasticore fs` and by tests: streamed
 * uploads and downloads, byte ranges, append, stat, ls, rm and merge. API errors become
 * `ElasticoreError`s with the API's code (`fs_not_found`, `fs_exists`, ...).
 *
 * @module
 */
import { type ApiClient, readJson } from "../cli/client.ts";
import { ElasticoreError } from "../errors.ts";
import type { FileStat } from "./file_meta.ts";

/** Transfers may take long: one day. */
const TRANSFER_TIMEOUT_MS = 24 * 3600 * 1000;

/** The URL path of a DFS path: each segment percent-encoded. */
export function fsUrl(path: string): string {
  const p = path.startsWith("/") ? path.slice(1) : path;
  return "/v1/fs/" + p.split("/").map(encodeURIComponent).join("/");
}

/** A download: the file's size and version and the streamed bytes. */
export interface FsDownload {
  /** Bytes in the body. */
  length: number;
  /** File version. */
  version: number;
  /** The bytes. */
  body: ReadableStream<Uint8Array>;
}

/** See the module documentation. */
export class FsClient {
  readonly #api: ApiClient;

  /** Creates a client over `api`. */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Uploads `body` to `path` (`overwrite` to replace an existing file). */
  async put(
    path: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    opts: { overwrite?: boolean; size?: number } = {},
  ): Promise<FileStat> {
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    const size = body instanceof Uint8Array ? body.byteLength : opts.size;
    if (size !== undefined) headers["content-length"] = String(size);
    return await this.#api.json<FileStat>({
      method: "PUT",
      path: fsUrl(path) + (opts.overwrite ? "?overwrite=true" : ""),
      body: body as BodyInit,
      headers,
      timeoutMs: TRANSFER_TIMEOUT_MS,
    });
  }

  /** Appends `body` to `path` (creating it if missing). */
  async append(path: string, body: ReadableStream<Uint8Array> | Uint8Array): Promise<FileStat> {
    return await this.#api.json<FileStat>({
      method: "PUT",
      path: fsUrl(path) + "?append",
      body: body as BodyInit,
      headers: { "content-type": "application/octet-stream" },
      timeoutMs: TRANSFER_TIMEOUT_MS,
    });
  }

  /** Downloads `path`, whole or the inclusive byte range `[start, end]`. */
  async get(path: string, range?: { start: number; end?: number }): Promise<FsDownload> {
    const headers: Record<string, string> = {};
    if (range) headers.range = `bytes=${range.start}-${range.end ?? ""}`;
    const res = await this.#api.request({
      method: "GET",
      path: fsUrl(path),
      headers,
      idempotent: true,
      timeoutMs: TRANSFER_TIMEOUT_MS,
    });
    if (!res.ok) await readJson(res); // throws the API's error
    if (!res.body) throw new ElasticoreError("api_bad_response", "the API sent no body");
    return {
      length: Number(res.headers.get("content-length") ?? 0),
      version: Number(res.headers.get("x-elasticore-version") ?? 0),
      body: res.body,
    };
  }

  /** The stat of `path`. */
  async stat(path: string): Promise<FileStat> {
    return await this.#api.json<FileStat>({
      method: "GET",
      path: fsUrl(path) + "?stat",
      idempotent: true,
    });
  }

  /** The files under `prefix`. */
  async list(prefix = "/"): Promise<FileStat[]> {
    const r = await this.#api.json<{ files: FileStat[] }>({
      method: "GET",
      path: `/v1/fs?prefix=${encodeURIComponent(prefix)}`,
      idempotent: true,
    });
    return r.files;
  }

  /** Removes `path`. */
  async remove(path: string): Promise<{ path: string; version: number }> {
    return await this.#api.json({ method: "DELETE", path: fsUrl(path) });
  }

  /** Merges the appended pieces of `path`. */
  async merge(path: string): Promise<FileStat> {
    return await this.#api.json<FileStat>({
      method: "POST",
      path: fsUrl(path) + "?merge",
      timeoutMs: TRANSFER_TIMEOUT_MS,
    });
  }
}
