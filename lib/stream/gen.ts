/**
 * A deterministic generator of traffic-sign rows with the real file's
 * columns and per-column value frequencies (columns sampled independently).
 * The model is learned from the real CSV when available
 * ({@link learnModel}) or taken from built-in tables ({@link builtinModel}).
 *
 * Generated columns: `OBJECTID`, `FACILITYID` and `Set_ID` are the row
 * number, `GlobalID` a random GUID, `X`/`Y` uniform within the data set's
 * range; every other column is drawn from its frequency table.
 *
 * @module
 */
import { Prng } from "../sim/prng.ts";
import { formatCsvField, formatCsvRow, parseCsvRows } from "./csv.ts";
import {
  TRAFFIC_SIGN_COLUMNS,
  TRAFFIC_SIGN_RANGES,
  TRAFFIC_SIGN_TABLES,
  type Weighted,
} from "./traffic_sign_tables.ts";

/** How each column is generated. */
export interface GenModel {
  /** Column names in order. */
  columns: readonly string[];
  /** Frequency tables of the sampled columns. */
  tables: ReadonlyMap<string, readonly Weighted[]>;
  /** Coordinate ranges. */
  ranges: { X: readonly [number, number]; Y: readonly [number, number] };
  /** Where the model came from. */
  origin: "learned" | "builtin";
}

const ID_COLUMNS = new Set(["OBJECTID", "FACILITYID", "Set_ID"]);

/** The model built into the program. */
export function builtinModel(): GenModel {
  return {
    columns: TRAFFIC_SIGN_COLUMNS,
    tables: new Map(Object.entries(TRAFFIC_SIGN_TABLES)),
    ranges: { X: TRAFFIC_SIGN_RANGES.X, Y: TRAFFIC_SIGN_RANGES.Y },
    origin: "builtin",
  };
}

/** Learns columns, value frequencies and coordinate ranges from a CSV with a header. */
export function learnModel(csv: string | Uint8Array): GenModel {
  const rows = parseCsvRows(csv);
  if (rows.length < 2) return builtinModel();
  const columns = rows[0];
  const counts = columns.map(() => new Map<string, number>());
  const ranges = {
    X: [Infinity, -Infinity] as [number, number],
    Y: [Infinity, -Infinity] as [number, number],
  };
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r];
    columns.forEach((c, i) => {
      const v = row[i] ?? "";
      counts[i].set(v, (counts[i].get(v) ?? 0) + 1);
      if (c === "X" || c === "Y") {
        const n = Number(v);
        if (v !== "" && Number.isFinite(n)) {
          ranges[c][0] = Math.min(ranges[c][0], n);
          ranges[c][1] = Math.max(ranges[c][1], n);
        }
      }
    });
  }
  const tables = new Map<string, readonly Weighted[]>();
  columns.forEach((c, i) => tables.set(c, [...counts[i].entries()]));
  for (const c of ["X", "Y"] as const) {
    if (!(ranges[c][0] <= ranges[c][1])) ranges[c] = [...TRAFFIC_SIGN_RANGES[c]];
  }
  return { columns, tables, ranges, origin: "learned" };
}

/** Appends one field's bytes for row `id` at `pos`; returns the new position. */
type Gen = (id: number, buf: Uint8Array, pos: number) => number;

const HEX = new TextEncoder().encode("0123456789ABCDEF");

function writeUint(n: number, buf: Uint8Array, pos: number): number {
  if (n === 0) {
    buf[pos] = 48;
    return pos + 1;
  }
  let len = 0;
  for (let x = n; x > 0; x = Math.floor(x / 10)) len++;
  for (let i = pos + len - 1; i >= pos; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return pos + len;
}

function writeHex(x: number, buf: Uint8Array, pos: number, digits: number): number {
  for (let i = digits - 1; i >= 0; i--) {
    buf[pos + i] = HEX[x & 15];
    x >>>= 4;
  }
  return pos + digits;
}

/** Largest encoded row the buffer must hold, from the longest table values. */
const ROW_HEADROOM = 512;

/**
 * Produces CSV bytes of generated rows, deterministically for a seed. Rows
 * are written straight into a byte buffer (no per-field strings), which keeps
 * the generator well above 200k rows/s.
 */
export class TrafficSignGenerator {
  readonly #prng: Prng;
  readonly #gens: Gen[];
  readonly #columns: readonly string[];
  #buf = new Uint8Array(1 << 20);
  #maxRow = ROW_HEADROOM;

  /** Creates a generator for `model` and `seed`. */
  constructor(model: GenModel, seed: number) {
    this.#prng = new Prng(seed);
    this.#columns = model.columns;
    const p = this.#prng;
    const enc = new TextEncoder();
    this.#gens = model.columns.map((c): Gen => {
      if (ID_COLUMNS.has(c)) return (id, buf, pos) => writeUint(id, buf, pos);
      if (c === "GlobalID") return (_id, buf, pos) => guid(p, buf, pos);
      if (c === "X" || c === "Y") {
        const lo = Math.ceil(model.ranges[c][0]);
        const span = Math.max(1, Math.floor(model.ranges[c][1]) - lo);
        return (_id, buf, pos) => {
          const v = lo + (p.nextU32() % span);
          if (v < 0) buf[pos++] = 45;
          pos = writeUint(Math.abs(v), buf, pos);
          buf[pos++] = 46;
          let f = p.nextU32() % 100000000;
          for (let i = pos + 7; i >= pos; i--) {
            buf[i] = 48 + (f % 10);
            f = Math.floor(f / 10);
          }
          return pos + 8;
        };
      }
      const table = model.tables.get(c);
      if (!table || table.length === 0) return (_id, _buf, pos) => pos;
      const values = table.map(([v]) => enc.encode(formatCsvField(v)));
      for (const v of values) this.#maxRow += v.length + 1;
      const slots: number[] = [];
      table.forEach(([, w], i) => {
        for (let k = 0; k < w; k++) slots.push(i);
      });
      const lookup = Int32Array.from(slots);
      const n = lookup.length;
      return (_id, buf, pos) => {
        const v = values[lookup[p.nextU32() % n]];
        for (let i = 0; i < v.length; i++) buf[pos + i] = v[i];
        return pos + v.length;
      };
    });
  }

  /** The header line. */
  header(): string {
    return formatCsvRow(this.#columns);
  }

  /**
   * CSV bytes of rows `firstId .. firstId + n - 1`. The view is valid until
   * the next call.
   */
  rowBytes(firstId: number, n: number): Uint8Array {
    const need = n * this.#maxRow;
    if (this.#buf.length < need) this.#buf = new Uint8Array(need);
    const buf = this.#buf;
    const gens = this.#gens;
    const w = gens.length;
    let pos = 0;
    for (let id = firstId; id < firstId + n; id++) {
      for (let i = 0; i < w; i++) {
        if (i > 0) buf[pos++] = 44;
        pos = gens[i](id, buf, pos);
      }
      buf[pos++] = 10;
    }
    return buf.subarray(0, pos);
  }

  /** CSV text of rows `firstId .. firstId + n - 1`. */
  rows(firstId: number, n: number): string {
    return new TextDecoder().decode(this.rowBytes(firstId, n));
  }
}

function guid(p: Prng, buf: Uint8Array, pos: number): number {
  const a = p.nextU32();
  const b = p.nextU32();
  const c = p.nextU32();
  const d = p.nextU32();
  buf[pos++] = 123;
  pos = writeHex(a, buf, pos, 8);
  buf[pos++] = 45;
  pos = writeHex(b >>> 16, buf, pos, 4);
  buf[pos++] = 45;
  pos = writeHex(b & 0xffff, buf, pos, 4);
  buf[pos++] = 45;
  pos = writeHex(c >>> 16, buf, pos, 4);
  buf[pos++] = 45;
  pos = writeHex(c & 0xffff, buf, pos, 4);
  pos = writeHex(d, buf, pos, 8);
  buf[pos++] = 125;
  return pos;
}

/** Writes the header and `rows` generated rows to `path`, streaming in batches. */
export async function generateToFile(
  path: string,
  rows: number,
  seed: number,
  model: GenModel,
): Promise<void> {
  const gen = new TrafficSignGenerator(model, seed);
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const writeAll = async (bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
  };
  await writeAll(new TextEncoder().encode(gen.header()));
  const batch = 8192;
  for (let id = 1; id <= rows; id += batch) {
    await writeAll(gen.rowBytes(id, Math.min(batch, rows - id + 1)));
  }
}
