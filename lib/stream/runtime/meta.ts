/**
 * The metadata store the job manager keeps job records, checkpoint manifests
 * and sink commit records in: the Raft-replicated KV store in production
 * ({@link KvMetaStore}), an in-memory map in unit tests
 * ({@link MemoryMetaStore}). Values are JSON; writes can be compare-and-set
 * on the version so two job managers never both win.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import type { KvService } from "../../raft/node/kv_service.ts";

/** A stored JSON value and its version (0 never occurs for an existing key). */
export interface MetaItem<T = unknown> {
  /** The value. */
  value: T;
  /** Version to pass as `cas` to replace exactly this value. */
  version: number;
}

/** What the runtime needs from the metadata store. */
export interface MetaStore {
  /** The value at `key` (linearizable), or undefined. */
  get<T = unknown>(key: string): Promise<MetaItem<T> | undefined>;
  /**
   * Writes `value`; with `cas` only if the key is at that version (0: absent).
   * A CAS miss throws {@link ElasticoreError} `cas_mismatch`. Returns the new version.
   */
  put(key: string, value: unknown, cas?: number): Promise<number>;
  /** Keys under `prefix` with their values, sorted by key. */
  list<T = unknown>(prefix: string): Promise<[string, MetaItem<T>][]>;
  /** Deletes `key` (no error when missing). */
  delete(key: string): Promise<void>;
}

/** True for the CAS-mismatch error of {@link MetaStore.put}. */
export function isCasMismatch(e: unknown): boolean {
  return e instanceof ElasticoreError && e.code === "cas_mismatch";
}

function casError(key: string, version: number): ElasticoreError {
  return new ElasticoreError("cas_mismatch", `key "${key}" is at version ${version}`, {
    status: 409,
  });
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A {@link MetaStore} over the replicated KV store of a master. */
export class KvMetaStore implements MetaStore {
  readonly #kv: KvService;
  /** Wraps `kv`. */
  constructor(kv: KvService) {
    this.#kv = kv;
  }
  /** See {@link MetaStore.get}. */
  async get<T>(key: string): Promise<MetaItem<T> | undefined> {
    const it = await this.#kv.get(key, "linearizable");
    if (!it) return undefined;
    return { value: JSON.parse(dec.decode(it.value)) as T, version: it.version };
  }
  /** See {@link MetaStore.put}. */
  async put(key: string, value: unknown, cas?: number): Promise<number> {
    return (await this.#kv.put(key, enc.encode(JSON.stringify(value)), cas)).version;
  }
  /** See {@link MetaStore.list}. */
  async list<T>(prefix: string): Promise<[string, MetaItem<T>][]> {
    const items = await this.#kv.list(prefix, 100_000, "linearizable");
    return items.map(([k, it]) => [k, {
      value: JSON.parse(dec.decode(it.value)) as T,
      version: it.version,
    }]);
  }
  /** See {@link MetaStore.delete}. */
  async delete(key: string): Promise<void> {
    await this.#kv.delete(key);
  }
}

/** An in-memory {@link MetaStore} (one process; for tests and local runs). */
export class MemoryMetaStore implements MetaStore {
  readonly #items = new Map<string, { json: string; version: number }>();
  #version = 0;

  /** See {@link MetaStore.get}. */
  get<T>(key: string): Promise<MetaItem<T> | undefined> {
    const it = this.#items.get(key);
    return Promise.resolve(
      it ? { value: JSON.parse(it.json) as T, version: it.version } : undefined,
    );
  }
  /** See {@link MetaStore.put}. */
  put(key: string, value: unknown, cas?: number): Promise<number> {
    const cur = this.#items.get(key)?.version ?? 0;
    if (cas !== undefined && cas !== cur) return Promise.reject(casError(key, cur));
    const version = ++this.#version;
    this.#items.set(key, { json: JSON.stringify(value), version });
    return Promise.resolve(version);
  }
  /** See {@link MetaStore.list}. */
  list<T>(prefix: string): Promise<[string, MetaItem<T>][]> {
    const out: [string, MetaItem<T>][] = [];
    for (const [k, it] of this.#items) {
      if (k.startsWith(prefix)) {
        out.push([k, { value: JSON.parse(it.json) as T, version: it.version }]);
      }
    }
    return Promise.resolve(out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }
  /** See {@link MetaStore.delete}. */
  delete(key: string): Promise<void> {
    this.#items.delete(key);
    return Promise.resolve();
  }
}
