/**
 * The stream runtime's file system backed by the cluster's DFS: job inputs,
 * checkpoints, staged and committed output and dead letters all live in the
 * replicated DFS, so any node can read what any other wrote and a worker's
 * death loses none of it.
 *
 * @module
 */
import type { DfsNode } from "../../dfs/node.ts";
import { ElasticoreError } from "../../errors.ts";
import { fsNotFound, sizePrecondition, type StreamFs } from "./fs.ts";

function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof ElasticoreError && codes.includes(e.code);
}

async function readAll(body: ReadableStream<Uint8Array>, expected: number): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let off = 0;
  for await (const chunk of body) {
    if (off + chunk.length > out.length) {
      throw new ElasticoreError("dfs_short_read", "the DFS returned extra bytes");
    }
    out.set(chunk, off);
    off += chunk.length;
  }
  return off === out.length ? out : out.subarray(0, off);
}

/** A {@link StreamFs} over a {@link DfsNode}. */
export class DfsStreamFs implements StreamFs {
  readonly #dfs: () => DfsNode;

  /** Uses the DFS node `dfs()` returns (read at each call). */
  constructor(dfs: () => DfsNode) {
    this.#dfs = dfs;
  }

  /** See {@link StreamFs.size}. */
  async size(path: string, opts: { exact?: boolean } = {}): Promise<number> {
    try {
      return (await this.#dfs().stat(path, { allReplicas: opts.exact })).size;
    } catch (e) {
      if (isCode(e, "fs_not_found")) throw fsNotFound(path);
      throw e;
    }
  }

  /** See {@link StreamFs.readRange}. */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    const size = await this.size(path);
    if (offset >= size || length <= 0) return new Uint8Array(0);
    const r = await this.#dfs().get(path, { offset, length: Math.min(length, size - offset) });
    return await readAll(r.body, r.length);
  }

  /** See {@link StreamFs.read}. */
  async read(path: string): Promise<Uint8Array> {
    try {
      const r = await this.#dfs().get(path);
      return await readAll(r.body, r.length);
    } catch (e) {
      if (isCode(e, "fs_not_found")) throw fsNotFound(path);
      throw e;
    }
  }

  /** See {@link StreamFs.write}. */
  async write(
    path: string,
    bytes: Uint8Array,
    opts: { overwrite?: boolean; expectSize?: number } = {},
  ): Promise<void> {
    await this.#dfs().put(path, bytes, {
      overwrite: opts.overwrite ?? false,
      expectSize: opts.expectSize,
    });
  }

  /** See {@link StreamFs.append}: creates the file when it does not exist yet. */
  async append(path: string, bytes: Uint8Array, opts: { expectSize?: number } = {}): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#dfs().append(path, bytes, opts);
        return;
      } catch (e) {
        if (!isCode(e, "fs_not_found")) throw e;
      }
      // Missing: it has 0 bytes, so only an append expecting 0 may create it.
      if (opts.expectSize !== undefined && opts.expectSize !== 0) {
        throw sizePrecondition(path, 0, opts.expectSize);
      }
      try {
        await this.#dfs().put(path, bytes, { overwrite: false });
        return;
      } catch (e) {
        // Another writer created it first: append to theirs.
        if (!isCode(e, "dfs_exists", "fs_exists")) throw e;
      }
    }
    throw new ElasticoreError("dfs_append_race", `could not append to ${path}`, { status: 503 });
  }

  /** See {@link StreamFs.exists}. */
  async exists(path: string): Promise<boolean> {
    try {
      await this.#dfs().stat(path);
      return true;
    } catch (e) {
      if (isCode(e, "fs_not_found")) return false;
      throw e;
    }
  }

  /** See {@link StreamFs.delete}: the file, or every file under the folder `path`. */
  async delete(path: string): Promise<void> {
    const under = path.endsWith("/") ? path : path + "/";
    for (const f of await this.list(under)) await this.#remove(f);
    await this.#remove(path.replace(/\/+$/, ""));
  }

  async #remove(path: string): Promise<void> {
    try {
      await this.#dfs().remove(path);
    } catch (e) {
      if (!isCode(e, "fs_not_found")) throw e;
    }
  }

  /** See {@link StreamFs.list}. */
  async list(prefix: string): Promise<string[]> {
    const stats = await this.#dfs().list(prefix, 100_000);
    return stats.map((s) => s.path).filter((p) => p.startsWith(prefix)).sort();
  }
}
