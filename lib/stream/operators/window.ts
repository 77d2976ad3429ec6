/**
 * Tumbling and sliding windows, count-based or event-time based, with an
 * aggregate (count, sum, min, max, avg) per key and window.
 *
 * Count windows (per key; records whose aggregated field is not numeric do
 * not count):
 * - tumbling `size` N: every N records of a key emit one result over them;
 * - sliding `size` N, `slide` S: every S records of a key emit a result over
 *   the key's last N records (fewer while fewer have arrived).
 * - `windowStart`/`windowEnd` are the key's record ordinals `[start, end)`.
 *   An incomplete count window is not emitted at the end of input.
 *
 * Event-time windows (`timeField` in epoch milliseconds, or a date string
 * `Date.parse` understands; records without a valid time are dropped):
 * - windows are `[start, start + size)` with `start` a multiple of `slide`
 *   (tumbling: slide = size), so a record belongs to `ceil(size / slide)`
 *   sliding windows;
 * - the operator's watermark is the largest event time seen minus
 *   `allowedLatenessMs`; a window fires (emits once and is forgotten) when
 *   the watermark reaches its end. A record for an already fired window is
 *   late: dropped and counted in {@link WindowOperator.lateDropped}.
 * - at the end of input every open window fires, in order of end time.
 * - `windowStart`/`windowEnd` are milliseconds.
 *
 * Output: `{ <key column>: key, windowStart, windowEnd, <as>: value }`
 * (`as` defaults to the aggregate name; no key column without a key).
 *
 * @module
 */
import { fieldText, type StreamRecord, toNumber } from "../record.ts";
import type { WindowSpec } from "../spec.ts";
import { type Acc, accResult, accumulate, type AggregateKind, isAcc } from "./aggregate.ts";
import { badSnapshot, KeyedState, type Operator, type SnapshotValue } from "./types.ts";

/** Per-key state of a count window: ordinal of records seen and the open values. */
type CountState = [number, number[]];

interface OpenWindow {
  key: string;
  start: number;
  acc: Acc;
}

/** A window operator configured from a validated `window` stage. */
export class WindowOperator implements Operator {
  /** `window`. */
  readonly kind = "window";
  readonly #agg: AggregateKind;
  readonly #field: string | undefined;
  readonly #key: string | undefined;
  readonly #as: string;
  readonly #size: number;
  readonly #slide: number;
  readonly #byTime: boolean;
  readonly #timeField: string;
  readonly #lateness: number;
  readonly #counts = new KeyedState<CountState>();
  #windows = new Map<string, OpenWindow>();
  #maxTs: number | null = null;
  #minEnd = Infinity;
  /** Late records dropped so far (event-time windows). */
  lateDropped = 0;

  /** `key` is the resolved key column (the spec's own or the preceding keyBy's). */
  constructor(spec: WindowSpec, key: string | undefined) {
    this.#agg = spec.aggregate;
    this.#field = spec.field;
    this.#key = key;
    this.#as = spec.as ?? spec.aggregate;
    this.#size = spec.size;
    this.#slide = spec.kind === "sliding" ? (spec.slide ?? spec.size) : spec.size;
    this.#byTime = spec.by === "time";
    this.#timeField = spec.timeField ?? "";
    this.#lateness = spec.allowedLatenessMs;
  }

  /** Assigns the record to its window(s) and fires the windows that closed. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    let x = 0;
    if (this.#agg !== "count") {
      const n = this.#field === undefined ? undefined : toNumber(rec[this.#field]);
      if (n === undefined) return;
      x = n;
    }
    const key = this.#key === undefined ? "" : fieldText(rec, this.#key);
    if (this.#byTime) this.#timed(rec, key, x, out);
    else this.#counted(key, x, out);
  }

  #counted(key: string, x: number, out: StreamRecord[]): void {
    const st = this.#counts.get(key) ?? [0, []];
    const seen = st[0] + 1;
    const vals = st[1];
    vals.push(x);
    if (vals.length > this.#size) vals.shift();
    const tumbling = this.#slide === this.#size;
    if (seen % this.#slide === 0 && (!tumbling || vals.length === this.#size)) {
      let acc: Acc | undefined;
      for (const v of vals) acc = accumulate(this.#agg, acc, v);
      if (acc) this.#emit(out, key, seen - vals.length, seen, acc);
      if (tumbling) vals.length = 0;
    }
    this.#counts.set(key, [seen, vals]);
  }

  #timed(rec: StreamRecord, key: string, x: number, out: StreamRecord[]): void {
    const raw = rec[this.#timeField];
    let t = toNumber(raw);
    if (t === undefined && typeof raw === "string") {
      const d = Date.parse(raw);
      if (Number.isFinite(d)) t = d;
    }
    if (t === undefined) return;
    const wm = this.#maxTs === null ? -Infinity : this.#maxTs - this.#lateness;
    const lastStart = Math.floor(t / this.#slide) * this.#slide;
    for (let s = lastStart; s > t - this.#size; s -= this.#slide) {
      const end = s + this.#size;
      if (end <= wm) {
        this.lateDropped++;
        continue;
      }
      const id = `${s}\u0000${key}`;
      const w = this.#windows.get(id);
      if (w) w.acc = accumulate(this.#agg, w.acc, x);
      else {
        this.#windows.set(id, { key, start: s, acc: accumulate(this.#agg, undefined, x) });
        if (end < this.#minEnd) this.#minEnd = end;
      }
    }
    if (this.#maxTs === null || t > this.#maxTs) this.#maxTs = t;
    const nextWm = this.#maxTs - this.#lateness;
    if (nextWm >= this.#minEnd) this.#fire(nextWm, out);
  }

  #fire(watermark: number, out: StreamRecord[]): void {
    const ready: OpenWindow[] = [];
    let minEnd = Infinity;
    for (const [id, w] of this.#windows) {
      const end = w.start + this.#size;
      if (end <= watermark) {
        ready.push(w);
        this.#windows.delete(id);
      } else if (end < minEnd) minEnd = end;
    }
    this.#minEnd = minEnd;
    ready.sort((a, b) => a.start - b.start);
    for (const w of ready) this.#emit(out, w.key, w.start, w.start + this.#size, w.acc);
  }

  #emit(out: StreamRecord[], key: string, start: number, end: number, acc: Acc): void {
    const o: StreamRecord = {};
    if (this.#key !== undefined) o[this.#key] = key;
    o.windowStart = start;
    o.windowEnd = end;
    o[this.#as] = accResult(this.#agg, acc);
    out.push(o);
  }

  /** Fires every open event-time window. */
  finish(out: StreamRecord[]): void {
    if (this.#byTime) this.#fire(Infinity, out);
  }

  /** `{ counts, windows: [key, start, n, v][], maxTs, late }`. */
  snapshot(): SnapshotValue {
    const windows: SnapshotValue[] = [];
    for (const w of this.#windows.values()) windows.push([w.key, w.start, w.acc[0], w.acc[1]]);
    return {
      counts: this.#counts.snapshot(),
      windows,
      maxTs: this.#maxTs,
      late: this.lateDropped,
    };
  }

  /** Restores a snapshot. */
  restore(state: SnapshotValue): void {
    if (typeof state !== "object" || state === null || Array.isArray(state)) {
      throw badSnapshot(this.kind, "expected an object");
    }
    const { counts, windows, maxTs, late } = state;
    if (!Array.isArray(windows)) throw badSnapshot(this.kind, "windows must be an array");
    if (maxTs !== null && typeof maxTs !== "number") throw badSnapshot(this.kind, "bad maxTs");
    if (typeof late !== "number") throw badSnapshot(this.kind, "bad late");
    this.#counts.restore(counts ?? [], this.kind, isCountState);
    const next = new Map<string, OpenWindow>();
    let minEnd = Infinity;
    for (const w of windows) {
      if (
        !Array.isArray(w) || w.length !== 4 || typeof w[0] !== "string" ||
        typeof w[1] !== "number" || !isAcc([w[2], w[3]] as SnapshotValue)
      ) {
        throw badSnapshot(this.kind, "bad window entry");
      }
      const start = w[1];
      next.set(`${start}\u0000${w[0]}`, {
        key: w[0],
        start,
        acc: [w[2] as number, w[3] as number],
      });
      minEnd = Math.min(minEnd, start + this.#size);
    }
    this.#windows = next;
    this.#minEnd = minEnd;
    this.#maxTs = maxTs;
    this.lateDropped = late;
  }
}

function isCountState(v: SnapshotValue): v is CountState {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === "number" && Array.isArray(v[1]) &&
    v[1].every((x) => typeof x === "number");
}
