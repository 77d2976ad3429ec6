/**
 * Running aggregates per key: count, sum, min, max, avg. Each accepted input
 * emits the key's updated value: `{ <key column>: key, <as>: value }` (just
 * `{ <as>: value }` without a key). Inputs whose aggregated field is missing
 * or not a number are skipped (count needs no field and never skips).
 *
 * @module
 */
import { fieldText, type StreamRecord, toNumber } from "../record.ts";
import { KeyedState, type Operator, type SnapshotValue } from "./types.ts";

/** The aggregate functions. */
export type AggregateKind = "count" | "sum" | "min" | "max" | "avg";

/** An accumulator: `[n, v]`, the number of values and the running sum/min/max. */
export type Acc = [number, number];

/** Adds `x` to an accumulator (a fresh one when `acc` is undefined). */
export function accumulate(kind: AggregateKind, acc: Acc | undefined, x: number): Acc {
  if (acc === undefined) return [1, kind === "count" ? 0 : x];
  const [n, v] = acc;
  switch (kind) {
    case "count":
      return [n + 1, v];
    case "sum":
    case "avg":
      return [n + 1, v + x];
    case "min":
      return [n + 1, x < v ? x : v];
    case "max":
      return [n + 1, x > v ? x : v];
  }
}

/** The value an accumulator stands for. */
export function accResult(kind: AggregateKind, acc: Acc): number {
  switch (kind) {
    case "count":
      return acc[0];
    case "avg":
      return acc[1] / acc[0];
    default:
      return acc[1];
  }
}

/** True for a well-formed accumulator in a snapshot. */
export function isAcc(v: SnapshotValue): v is Acc {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === "number" &&
    typeof v[1] === "number" && Number.isFinite(v[0]) && Number.isFinite(v[1]);
}

/**
 * Builds the constructor of the output records `{ <key>: key, <as>: value }`
 * (`{ <as>: value }` without a key): an object literal with fixed keys, so
 * every output has one hidden class. Names go in as JSON string literals (no
 * code injection); `__proto__`, which a literal treats as the prototype,
 * takes the generic path.
 */
function outputFactory(
  key: string | undefined,
  as: string,
): (key: string, value: number) => StreamRecord {
  if (key === "__proto__" || as === "__proto__") {
    return (k, v) => {
      const o: StreamRecord = {};
      if (key !== undefined) Object.defineProperty(o, key, { value: k, ...plain });
      Object.defineProperty(o, as, { value: v, ...plain });
      return o;
    };
  }
  const body = key === undefined
    ? `return {${JSON.stringify(as)}: v};`
    : `return {${JSON.stringify(key)}: k, ${JSON.stringify(as)}: v};`;
  return new Function("k", "v", body) as (key: string, value: number) => StreamRecord;
}

const plain = { enumerable: true, writable: true, configurable: true };

/** A running aggregate per key (see the module doc). */
export class RunningAggregateOperator implements Operator {
  readonly #state = new KeyedState<Acc>();
  /** The aggregate, e.g. `count`. */
  readonly kind: AggregateKind;
  readonly #field: string | undefined;
  readonly #key: string | undefined;
  readonly #as: string;

  /** `field` is required unless `kind` is `count`. */
  constructor(kind: AggregateKind, opts: { field?: string; key?: string; as?: string }) {
    this.kind = kind;
    this.#field = opts.field;
    this.#key = opts.key;
    this.#as = opts.as ?? kind;
    this.#make = outputFactory(this.#key, this.#as);
  }

  readonly #make: (key: string, value: number) => StreamRecord;

  /** Updates the key's accumulator and emits its value. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    let x = 0;
    if (this.kind !== "count") {
      const n = this.#field === undefined ? undefined : toNumber(rec[this.#field]);
      if (n === undefined) return;
      x = n;
    }
    const key = this.#key === undefined ? "" : fieldText(rec, this.#key);
    const acc = accumulate(this.kind, this.#state.get(key), x);
    this.#state.set(key, acc);
    out.push(this.#make(key, accResult(this.kind, acc)));
  }

  /** Running aggregates hold nothing back. */
  finish(_out: StreamRecord[]): void {}

  /** `[key, [n, v]]` pairs. */
  snapshot(): SnapshotValue {
    return this.#state.snapshot();
  }

  /** Restores the accumulators. */
  restore(state: SnapshotValue): void {
    this.#state.restore(state, this.kind, isAcc);
  }
}
