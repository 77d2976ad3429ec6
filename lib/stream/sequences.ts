/**
 * The end-to-end sequence checker (as in Flink's exactly-once tests): every
 * key's values must arrive as 1, 2, 3, ... with no gap and no repeat.
 *
 * @module
 */
import type { StreamRecord } from "./record.ts";

/** Result of {@link checkSequences}. */
export interface SequenceReport {
  /** True when no problem was found. */
  ok: boolean;
  /** Keys seen. */
  keys: number;
  /** Records checked. */
  records: number;
  /** Highest value per key. */
  last: Map<string, number>;
  /** The first problems found (at most 20), e.g. `key k3: expected 5, got 7 (gap)`. */
  problems: string[];
}

/** Options of {@link checkSequences}. */
export interface SequenceOptions {
  /** Field holding the key (default `key`). */
  keyField?: string;
  /** Field holding the sequence value (default `value`). */
  valueField?: string;
  /** When given, every key must end exactly at this value. */
  expectLast?: ReadonlyMap<string, number>;
}

/** Checks that every key's values are 1, 2, 3, ... in order. */
export function checkSequences(
  records: Iterable<StreamRecord>,
  opts: SequenceOptions = {},
): SequenceReport {
  const kf = opts.keyField ?? "key";
  const vf = opts.valueField ?? "value";
  const last = new Map<string, number>();
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  let n = 0;
  for (const r of records) {
    n++;
    const key = String(r[kf] ?? "");
    const v = typeof r[vf] === "number" ? r[vf] as number : Number(r[vf]);
    const want = (last.get(key) ?? 0) + 1;
    if (v !== want) {
      note(`key ${key}: expected ${want}, got ${String(r[vf])} (${v < want ? "repeat" : "gap"})`);
    }
    if (Number.isFinite(v) && v > (last.get(key) ?? 0)) last.set(key, v);
  }
  if (opts.expectLast) {
    for (const [k, want] of opts.expectLast) {
      const got = last.get(k) ?? 0;
      if (got !== want) note(`key ${k}: ended at ${got}, expected ${want}`);
    }
    for (const k of last.keys()) if (!opts.expectLast.has(k)) note(`unexpected key ${k}`);
  }
  return { ok: problems.length === 0, keys: last.size, records: n, last, problems };
}
