/**
 * The replicated metadata store: a versioned key-value state machine applied
 * from committed Raft entries. Each key's version is the Raft index of the
 * entry that last wrote it; `cas` makes a write conditional on that version
 * (0 means "must not exist"). Results depend only on the command sequence,
 * so every replica computes the same ones.
 *
 * @module
 */
import { decode, Encoder } from "@msgpack/msgpack";
import {
  array,
  bytes,
  type Infer,
  literal,
  object,
  optional,
  safeParse,
  type Schema,
  SchemaError,
  str,
  uint,
} from "../../proto/schema.ts";
import { ElasticoreError } from "../errors.ts";

/** Longest key. */
export const MAX_KEY_LENGTH = 1024;
/** Largest value. */
export const MAX_VALUE_BYTES = 512 * 1024;

const putSchema = object({
  op: literal("put"),
  key: str(MAX_KEY_LENGTH),
  value: bytes(MAX_VALUE_BYTES),
  cas: optional(uint),
  id: optional(str(128)),
});
const deleteSchema = object({
  op: literal("delete"),
  key: str(MAX_KEY_LENGTH),
  cas: optional(uint),
  id: optional(str(128)),
});

/** Writes `value` at `key` (if `cas` is set, only when the key's version equals it). */
export type KvPut = Infer<typeof putSchema>;
/** Deletes `key` (if `cas` is set, only when the key's version equals it). */
export type KvDelete = Infer<typeof deleteSchema>;
/** A command of the replicated store; `id` lets a proposer recognize its entry. */
export type KvCommand = KvPut | KvDelete;

/** The outcome of a command, identical on every replica. */
export type KvResult =
  | { ok: true; version: number; existed: boolean }
  | { ok: false; code: "cas_mismatch"; version: number };

/** A stored value. */
export interface KvItem {
  /** The value. */
  value: Uint8Array;
  /** Raft index of the write that produced it. */
  version: number;
}

/** A command that failed to decode or validate. */
export class KvCommandError extends ElasticoreError {
  /** Creates the error. */
  constructor(message: string) {
    super("bad_kv_command", message, { status: 400 });
  }
}

const encoder = new Encoder({ ignoreUndefined: true });

/** Encodes a command as an entry payload. */
export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(cmd);
}

/** Decodes and validates an entry payload; throws {@link KvCommandError} naming the problem. */
export function decodeKvCommand(data: Uint8Array): KvCommand {
  let raw: unknown;
  try {
    raw = decode(data);
  } catch (e) {
    throw new KvCommandError(`kv command is not valid msgpack: ${String(e)}`);
  }
  const op = typeof raw === "object" && raw !== null ? (raw as { op?: unknown }).op : undefined;
  const schema = op === "put" ? putSchema : op === "delete" ? deleteSchema : undefined;
  if (!schema) throw new KvCommandError(`kv command has unknown op ${JSON.stringify(op)}`);
  const r = safeParse<KvCommand>(schema, raw);
  if (!r.ok) throw new KvCommandError(`malformed kv command: ${r.error.message}`);
  return r.value;
}

function tuple3<A, B, C>(a: Schema<A>, b: Schema<B>, c: Schema<C>): Schema<[A, B, C]> {
  const describe = `[${a.describe},${b.describe},${c.describe}]`;
  return {
    describe,
    parse(v, path = "") {
      if (!Array.isArray(v) || v.length !== 3) throw new SchemaError(path, `expected ${describe}`);
      a.parse(v[0], `${path}[0]`);
      b.parse(v[1], `${path}[1]`);
      c.parse(v[2], `${path}[2]`);
      return v as [A, B, C];
    },
  };
}

const snapshotSchema = object({
  applied: uint,
  items: array(tuple3(str(MAX_KEY_LENGTH), bytes(MAX_VALUE_BYTES), uint), 1 << 24),
});

/** The versioned key-value state machine. */
export class KvStateMachine {
  #items = new Map<string, KvItem>();
  #applied = 0;

  /** Index of the last entry applied. */
  get applied(): number {
    return this.#applied;
  }

  /** Number of keys. */
  get size(): number {
    return this.#items.size;
  }

  /**
   * Applies the committed entry at `index`. An empty payload is a no-op (a
   * leader's first entry). Entries must be applied in increasing index order.
   */
  apply(index: number, data: Uint8Array): KvResult | undefined {
    if (index <= this.#applied) {
      throw new KvCommandError(`entry ${index} applied out of order (applied ${this.#applied})`);
    }
    this.#applied = index;
    if (data.byteLength === 0) return undefined;
    return this.execute(index, decodeKvCommand(data));
  }

  /** Executes a decoded command as the entry at `index`. */
  execute(index: number, cmd: KvCommand): KvResult {
    this.#applied = Math.max(this.#applied, index);
    const cur = this.#items.get(cmd.key);
    const version = cur?.version ?? 0;
    if (cmd.cas !== undefined && cmd.cas !== version) {
      return { ok: false, code: "cas_mismatch", version };
    }
    if (cmd.op === "put") {
      this.#items.set(cmd.key, { value: cmd.value, version: index });
      return { ok: true, version: index, existed: cur !== undefined };
    }
    this.#items.delete(cmd.key);
    return { ok: true, version: index, existed: cur !== undefined };
  }

  /** The value and version at `key`. */
  get(key: string): KvItem | undefined {
    return this.#items.get(key);
  }

  /** Keys starting with `prefix`, sorted, at most `limit`, with their items. */
  list(prefix = "", limit = Infinity): [string, KvItem][] {
    const keys = [...this.#items.keys()].filter((k) => k.startsWith(prefix)).sort();
    return keys.slice(0, limit).map((k) => [k, this.#items.get(k)!]);
  }

  /** The whole store as msgpack (keys sorted, so equal stores give equal bytes). */
  snapshot(): Uint8Array {
    const items = this.list().map(([k, it]) => [k, it.value, it.version]);
    return encoder.encode({ applied: this.#applied, items });
  }

  /** Replaces the store with a snapshot made by {@link snapshot}. */
  restore(data: Uint8Array): void {
    let raw: unknown;
    try {
      raw = decode(data);
    } catch (e) {
      throw new KvCommandError(`kv snapshot is not valid msgpack: ${String(e)}`);
    }
    const r = safeParse(snapshotSchema, raw);
    if (!r.ok) throw new KvCommandError(`malformed kv snapshot: ${r.error.message}`);
    this.#items = new Map(r.value.items.map(([k, v, ver]) => [k, { value: v, version: ver }]));
    this.#applied = r.value.applied;
  }
}
