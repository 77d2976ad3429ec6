/**
 * Stateless built-in operators: filter, select, map, flatMap and keyBy.
 *
 * @module
 */
import { fieldText, type StreamRecord } from "../record.ts";
import type { FilterSpec, StageSpec } from "../spec.ts";
import { StatelessOperator } from "./types.ts";

/** The text a column-less filter looks at: the `line` field, or all values joined by `,`. */
export function wholeRecordText(rec: StreamRecord): string {
  const line = rec.line;
  if (line !== undefined) return typeof line === "string" ? line : String(line);
  let s = "";
  let first = true;
  for (const k in rec) {
    if (!first) s += ",";
    first = false;
    s += fieldText(rec, k);
  }
  return s;
}

/** Keeps records whose column (or whole text) equals, contains or matches a pattern. */
export class FilterOperator extends StatelessOperator {
  /** `filter`. */
  readonly kind = "filter";
  readonly #column: string | undefined;
  readonly #test: (s: string) => boolean;
  readonly #negate: boolean;

  /** Builds the predicate from a validated spec. */
  constructor(spec: FilterSpec) {
    super();
    this.#column = spec.column;
    this.#negate = spec.negate;
    const ic = spec.ignoreCase;
    if (spec.regex !== undefined) {
      const re = new RegExp(spec.regex, ic ? "i" : "");
      this.#test = (s) => re.test(s);
    } else if (spec.contains !== undefined) {
      const needle = ic ? spec.contains.toLowerCase() : spec.contains;
      this.#test = ic ? (s) => s.toLowerCase().includes(needle) : (s) => s.includes(needle);
    } else {
      const want = spec.equals ?? "";
      const lw = want.toLowerCase();
      this.#test = ic ? (s) => s.toLowerCase() === lw : (s) => s === want;
    }
  }

  /** Passes the record on if it matches. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    const col = this.#column;
    let text: string;
    if (col === undefined) text = wholeRecordText(rec);
    else {
      const v = rec[col];
      text = typeof v === "string" ? v : v === undefined ? "" : String(v);
    }
    if (this.#test(text) !== this.#negate) out.push(rec);
  }
}

/** Projects columns in order (missing ones become `""`), renaming some. */
export class SelectOperator extends StatelessOperator {
  /** `select`. */
  readonly kind = "select";
  readonly #from: string[];
  readonly #to: string[];

  /** Creates the projection. */
  constructor(columns: readonly string[], rename: Readonly<Record<string, string>> = {}) {
    super();
    this.#from = [...columns];
    this.#to = columns.map((c) => (Object.hasOwn(rename, c) ? rename[c] : c));
  }

  /** Emits the projected record. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    const o: StreamRecord = {};
    const from = this.#from;
    const to = this.#to;
    for (let i = 0; i < from.length; i++) o[to[i]] = rec[from[i]] ?? "";
    out.push(o);
  }
}

/** Renames, drops and sets fields. */
export class MapOperator extends StatelessOperator {
  /** `map`. */
  readonly kind = "map";
  readonly #rename: Record<string, string>;
  readonly #drop: Set<string>;
  readonly #set: [string, string | number][];

  /** Creates the mapping (applied in the order rename, drop, set). */
  constructor(opts: {
    rename?: Record<string, string>;
    drop?: readonly string[];
    set?: Record<string, string | number>;
  }) {
    super();
    this.#rename = opts.rename ?? {};
    this.#drop = new Set(opts.drop ?? []);
    this.#set = Object.entries(opts.set ?? {});
  }

  /** Emits the mapped record. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    const o: StreamRecord = {};
    for (const k in rec) {
      const name = Object.hasOwn(this.#rename, k) ? this.#rename[k] : k;
      if (this.#drop.has(name)) continue;
      o[name] = rec[k];
    }
    for (const [k, v] of this.#set) o[k] = v;
    out.push(o);
  }
}

/** Splits a column by a separator into one record per part. */
export class FlatMapOperator extends StatelessOperator {
  /** `flatMap`. */
  readonly kind = "flatMap";
  /** Creates the splitter. */
  constructor(
    readonly column: string,
    readonly separator: string,
    readonly as: string,
    readonly trim: boolean,
    readonly skipEmpty: boolean,
  ) {
    super();
  }

  /** Emits one record per part. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    for (let part of fieldText(rec, this.column).split(this.separator)) {
      if (this.trim) part = part.trim();
      if (this.skipEmpty && part === "") continue;
      out.push({ ...rec, [this.as]: part });
    }
  }
}

/** Passes records through; the runtime partitions the next stage by the key column. */
export class KeyByOperator extends StatelessOperator {
  /** `keyBy`. */
  readonly kind = "keyBy";
  /** Passes the record on. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    out.push(rec);
  }
}

/** Builds a stateless operator from its spec, or `undefined` for other kinds. */
export function statelessOperator(spec: StageSpec): StatelessOperator | undefined {
  switch (spec.op) {
    case "filter":
      return new FilterOperator(spec);
    case "select":
      return new SelectOperator(spec.columns, spec.rename);
    case "map":
      return new MapOperator(spec);
    case "flatMap":
      return new FlatMapOperator(
        spec.column,
        spec.separator,
        spec.as ?? spec.column,
        spec.trim,
        spec.skipEmpty,
      );
    case "keyBy":
      return new KeyByOperator();
    default:
      return undefined;
  }
}
