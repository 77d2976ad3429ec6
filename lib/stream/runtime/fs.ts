/**
 * The file system the stream runtime reads inputs from and writes state,
 * staged output and results to. The lead backs {@link StreamFs} with the
 * DFS; {@link LocalDirFs} is a directory on local disk (tests, single
 * machine, or several processes sharing one directory). Every write and
 * append is fsynced before it resolves (durable before acknowledged).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { sizePrecondition as dfsSizePrecondition } from "../../dfs/node_errors.ts";
import { normalizePath } from "../../dfs/paths.ts";
import { ElasticoreError } from "../../errors.ts";

/** What the stream runtime needs from a file system (paths are DFS paths: `/a/b`). */
export interface StreamFs {
  /**
   * The file's size in bytes; throws {@link fsNotFound} when it does not exist. With `exact`,
   * the size includes any write whose outcome was unknown that some replica stored (a
   * replicated file system then asks every replica): what an idempotent retry checks.
   */
  size(path: string, opts?: { exact?: boolean }): Promise<number>;
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array>;
  /** The whole file. */
  read(path: string): Promise<Uint8Array>;
  /**
   * Writes a whole file; without `overwrite` an existing file is an error. With `expectSize`,
   * only over a file of exactly that many bytes (a missing file has 0), else
   * {@link sizePrecondition}.
   */
  write(
    path: string,
    bytes: Uint8Array,
    opts?: { overwrite?: boolean; expectSize?: number },
  ): Promise<void>;
  /**
   * Appends to a file, creating it when missing. With `expectSize`, only if the file has
   * exactly that many bytes (a missing file has 0), else {@link sizePrecondition}: how a
   * commit keeps a retried or stale append from landing twice.
   */
  append(path: string, bytes: Uint8Array, opts?: { expectSize?: number }): Promise<void>;
  /** Whether the file exists. */
  exists(path: string): Promise<boolean>;
  /** Deletes a file, or every file under a folder; no error when missing. */
  delete(path: string): Promise<void>;
  /** Paths of the files whose path starts with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

/**
 * The typed error of a write whose size precondition failed (`dfs_size_precondition`, the
 * DFS's own error).
 */
export function sizePrecondition(path: string, size: number, expected: number): ElasticoreError {
  return dfsSizePrecondition(path, size, expected, "write");
}

/** The typed error for a missing file. */
export function fsNotFound(path: string): ElasticoreError {
  return new ElasticoreError("fs_not_found", `no file at ${path}`, {
    status: 404,
    hint: "upload the file first (elasticore fs put)",
  });
}

/** A {@link StreamFs} over a directory of the local disk. */
export class LocalDirFs implements StreamFs {
  /** The directory holding the files. */
  readonly root: string;

  /** Uses `root` (created on first write). */
  constructor(root: string) {
    this.root = root;
  }

  #local(path: string): string {
    const p = normalizePath(path);
    return join(this.root, p === "/" ? "" : p.slice(1));
  }

  /** See {@link StreamFs.size}. */
  async size(path: string): Promise<number> {
    try {
      const st = await Deno.stat(this.#local(path));
      if (!st.isFile) throw fsNotFound(path);
      return st.size;
    } catch (e) {
      throw mapError(e, path);
    }
  }

  /** See {@link StreamFs.readRange}. */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(this.#local(path), { read: true });
    } catch (e) {
      throw mapError(e, path);
    }
    try {
      await f.seek(offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(length);
      let n = 0;
      while (n < length) {
        const r = await f.read(buf.subarray(n));
        if (r === null) break;
        n += r;
      }
      return n === length ? buf : buf.subarray(0, n);
    } finally {
      f.close();
    }
  }

  /** See {@link StreamFs.read}. */
  async read(path: string): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.#local(path));
    } catch (e) {
      throw mapError(e, path);
    }
  }

  /** Throws {@link sizePrecondition} unless `path` has `expected` bytes (missing: 0). */
  async #expectSize(path: string, expected: number | undefined): Promise<void> {
    if (expected === undefined) return;
    const size = await this.exists(path) ? await this.size(path) : 0;
    if (size !== expected) throw sizePrecondition(path, size, expected);
  }

  /** See {@link StreamFs.write}: a new file is written beside and renamed into place. */
  async write(
    path: string,
    bytes: Uint8Array,
    opts: { overwrite?: boolean; expectSize?: number } = {},
  ): Promise<void> {
    const local = this.#local(path);
    await Deno.mkdir(dirname(local), { recursive: true });
    if (!opts.overwrite && await this.exists(path)) {
      throw new ElasticoreError("fs_exists", `a file already exists at ${path}`, { status: 409 });
    }
    await this.#expectSize(path, opts.expectSize);
    const tmp = `${local}.tmp-${crypto.randomUUID()}`;
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await writeAll(f, bytes);
      await f.syncData();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, local);
  }

  /** See {@link StreamFs.append} (the precondition is checked, then the append made). */
  async append(path: string, bytes: Uint8Array, opts: { expectSize?: number } = {}): Promise<void> {
    const local = this.#local(path);
    await Deno.mkdir(dirname(local), { recursive: true });
    await this.#expectSize(path, opts.expectSize);
    const f = await Deno.open(local, { append: true, create: true });
    try {
      await writeAll(f, bytes);
      await f.syncData();
    } finally {
      f.close();
    }
  }

  /** See {@link StreamFs.exists}. */
  async exists(path: string): Promise<boolean> {
    try {
      return (await Deno.stat(this.#local(path))).isFile;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  /** See {@link StreamFs.delete}. */
  async delete(path: string): Promise<void> {
    try {
      await Deno.remove(this.#local(path), { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /** See {@link StreamFs.list}. */
  async list(prefix: string): Promise<string[]> {
    const norm = prefix.endsWith("/") ? normalizePath(prefix) + "/" : normalizePath(prefix);
    const dir = norm.endsWith("/") ? norm : norm.slice(0, norm.lastIndexOf("/") + 1);
    const out: string[] = [];
    const walk = async (rel: string) => {
      let entries: Deno.DirEntry[] = [];
      try {
        entries = await Array.fromAsync(Deno.readDir(join(this.root, rel)));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        throw e;
      }
      for (const e of entries) {
        const p = `${rel}/${e.name}`;
        if (e.isDirectory) await walk(p);
        else if (e.isFile && !e.name.includes(".tmp-") && p.startsWith(norm)) out.push(p);
      }
    };
    await walk(dir === "/" ? "" : dir.slice(0, -1));
    return out.sort();
  }
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}

function mapError(e: unknown, path: string): unknown {
  if (e instanceof Deno.errors.NotFound) return fsNotFound(path);
  return e;
}
