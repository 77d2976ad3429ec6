/**
 * The operator contract and keyed state.
 *
 * Operators are pure and deterministic: the same inputs in the same order give
 * the same outputs and the same state. State is explicit: `snapshot()` returns
 * a plain, JSON-serializable value and `restore()` puts it back, which is how
 * a task rolls back to a checkpoint for exactly-once results.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import type { StreamRecord } from "../record.ts";

/** A JSON-serializable snapshot value. */
export type SnapshotValue =
  | null
  | string
  | number
  | boolean
  | SnapshotValue[]
  | { [k: string]: SnapshotValue };

/** One stream operator instance (one per task). */
export interface Operator {
  /** The operator name, e.g. `filter`. */
  readonly kind: string;
  /** Handles one record, appending its outputs to `out`. */
  process(rec: StreamRecord, out: StreamRecord[]): void;
  /** End of input: emits what is still held (open time windows). */
  finish(out: StreamRecord[]): void;
  /** The operator's state as a plain value (`null` if stateless). */
  snapshot(): SnapshotValue;
  /** Restores a value made by {@link snapshot}; throws {@link badSnapshot} if it is not one. */
  restore(state: SnapshotValue): void;
}

/** The typed error for a snapshot that does not fit its operator. */
export function badSnapshot(kind: string, detail: string): ElasticoreError {
  return new ElasticoreError("stream_bad_snapshot", `${kind} snapshot: ${detail}`, {
    hint: "the checkpoint does not belong to this job version; restart the job from scratch",
  });
}

/** Base for stateless operators: empty snapshot, nothing to finish. */
export abstract class StatelessOperator implements Operator {
  /** See {@link Operator.kind}. */
  abstract readonly kind: string;
  /** See {@link Operator.process}. */
  abstract process(rec: StreamRecord, out: StreamRecord[]): void;
  /** Nothing is held. */
  finish(_out: StreamRecord[]): void {}
  /** Stateless: `null`. */
  snapshot(): SnapshotValue {
    return null;
  }
  /** Accepts only `null`. */
  restore(state: SnapshotValue): void {
    if (state !== null) throw badSnapshot(this.kind, "expected null for a stateless operator");
  }
}

/**
 * Keyed state: a Map from key to a JSON value. Snapshots are `[key, value]`
 * pairs in insertion order (deep-copied, so later changes do not leak in).
 */
export class KeyedState<V extends SnapshotValue = SnapshotValue> {
  #map = new Map<string, V>();

  /** The value for `key`. */
  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** Sets the value for `key`. */
  set(key: string, value: V): void {
    this.#map.set(key, value);
  }

  /** Removes `key`. */
  delete(key: string): void {
    this.#map.delete(key);
  }

  /** Number of keys. */
  get size(): number {
    return this.#map.size;
  }

  /** Keys in insertion order. */
  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  /** A plain copy of the state. */
  snapshot(): SnapshotValue {
    const out: SnapshotValue[] = [];
    for (const [k, v] of this.#map) out.push([k, typeof v === "object" ? structuredClone(v) : v]);
    return out;
  }

  /** Replaces the state with a snapshot; `check` validates each value. */
  restore(state: SnapshotValue, kind: string, check: (v: SnapshotValue) => v is V): void {
    if (!Array.isArray(state)) throw badSnapshot(kind, "expected an array of [key, value]");
    const next = new Map<string, V>();
    for (const e of state) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || !check(e[1])) {
        throw badSnapshot(kind, "bad [key, value] entry");
      }
      next.set(e[0], typeof e[1] === "object" ? structuredClone(e[1]) : e[1]);
    }
    this.#map = next;
  }
}

/** True for a finite number. */
export function isFiniteNumber(v: SnapshotValue): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** True for any JSON value (user operator state). */
export function isSnapshotValue(v: unknown): v is SnapshotValue {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isSnapshotValue);
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(v as Record<string, unknown>).every(isSnapshotValue);
  }
  return false;
}
