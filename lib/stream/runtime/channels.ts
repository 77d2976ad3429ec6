/**
 * The data plane between tasks: output channels that batch records by shape
 * and never have more uncredited records in flight than the receiver's
 * window, and the receiving side's bookkeeping (sequence check, credit
 * return).
 *
 * @module
 */
import { recordFactory } from "../csv.ts";
import type { FieldValue, StreamRecord } from "../record.ts";
import type { StreamData } from "./messages.ts";

/** Sends one message of a channel (locally or over RPC). */
export type DataSender = (msg: StreamData) => Promise<void>;

/** Raised into a task when its channel stops (the task was stopped). */
export class ChannelClosedError extends Error {
  /** Creates the error. */
  constructor() {
    super("channel closed");
    this.name = "ChannelClosedError";
  }
}

const factories = new Map<string, (f: readonly FieldValue[]) => StreamRecord>();

/** The cached record constructor of one batch shape. */
function factoryFor(cols: readonly string[]): (f: readonly FieldValue[]) => StreamRecord {
  const key = cols.length === 1 ? cols[0] : JSON.stringify(cols);
  let make = factories.get(key);
  if (make === undefined) {
    if (factories.size >= 256) factories.clear();
    make = recordFactory(cols);
    factories.set(key, make);
  }
  return make;
}

/** The records of a batch as objects. */
export function rowsToRecords(
  cols: readonly string[],
  rows: readonly (readonly FieldValue[])[],
): StreamRecord[] {
  const out: StreamRecord[] = new Array(rows.length);
  const make = factoryFor(cols);
  for (let r = 0; r < rows.length; r++) out[r] = make(rows[r]);
  return out;
}

/** Number of records in a data message. */
export function batchLength(msg: StreamData): number {
  return msg.coded ? msg.coded.n : msg.rows.length;
}

/**
 * The records of a data message (rows or dictionary-coded); throws
 * `RangeError` on a coded batch whose codes do not fit its shape or dictionary.
 */
export function batchRecords(msg: StreamData): StreamRecord[] {
  const coded = msg.coded;
  if (!coded) return rowsToRecords(msg.cols, msg.rows);
  const { n, dict, codes } = coded;
  const w = msg.cols.length;
  const wide = codes.length === 2 * n * w;
  if (w === 0 || (!wide && codes.length !== n * w)) {
    throw new RangeError(`coded batch from ${msg.from}: ${codes.length} code bytes for ${n}×${w}`);
  }
  const make = factoryFor(msg.cols);
  const out: StreamRecord[] = new Array(n);
  const row: FieldValue[] = new Array(w);
  const d = dict.length;
  let k = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < w; c++) {
      const code = wide ? codes[k] | (codes[k + 1] << 8) : codes[k];
      k += wide ? 2 : 1;
      if (code >= d) throw new RangeError(`coded batch from ${msg.from}: code ${code} >= ${d}`);
      row[c] = dict[code];
    }
    out[r] = make(row);
  }
  return out;
}

/**
 * The message with its rows dictionary-coded (see `CodedRows`), or the
 * message itself when that does not pay: few rows, no columns, values that
 * are mostly distinct, or a `-0` (a dictionary would merge it with `0`).
 */
export function codeRows(msg: StreamData): StreamData {
  const rows = msg.rows;
  const w = msg.cols.length;
  const n = rows.length;
  if (n < 16 || w === 0) return msg;
  const index = new Map<FieldValue, number>();
  const dict: FieldValue[] = [];
  const codes = new Uint16Array(n * w);
  let k = 0;
  for (let r = 0; r < n; r++) {
    const row = rows[r];
    for (let c = 0; c < w; c++) {
      const v = row[c];
      if (v === 0 && Object.is(v, -0)) return msg;
      let code = index.get(v);
      if (code === undefined) {
        code = dict.length;
        if (code > 0xffff || (code >= 64 && 2 * code > k)) return msg;
        dict.push(v);
        index.set(v, code);
      }
      codes[k++] = code;
    }
  }
  let bytes: Uint8Array;
  if (dict.length <= 256) bytes = Uint8Array.from(codes);
  else {
    bytes = new Uint8Array(2 * k);
    for (let i = 0; i < k; i++) {
      bytes[2 * i] = codes[i] & 0xff;
      bytes[2 * i + 1] = codes[i] >>> 8;
    }
  }
  return { ...msg, rows: [], coded: { n, dict, codes: bytes } };
}

/** One sending end: task `from` → task `to`. */
export class OutputChannel {
  /** Receiving task. */
  readonly to: string;
  readonly #base: { job: string; attempt: number; from: string; to: string };
  readonly #send: DataSender;
  readonly #batchSize: number;
  #credits: number;
  #seq = 0;
  #cols: string[] | null = null;
  #rows: (string | number)[][] = [];
  #waiter: { resolve(): void; reject(e: Error): void } | null = null;
  #closed = false;
  /** Records sent so far. */
  sent = 0;
  /** Largest number of uncredited records ever in flight (for tests and metrics). */
  maxInFlight = 0;
  readonly #window: number;

  readonly #project: string[] | undefined;

  /**
   * Creates the channel with `window` records of initial credit; with
   * `project`, only those columns are sent (a missing one as `""`).
   */
  constructor(
    base: { job: string; attempt: number; from: string; to: string },
    send: DataSender,
    window: number,
    batchSize: number,
    project?: string[],
  ) {
    this.#base = base;
    this.#project = project;
    if (project) this.#cols = project;
    this.to = base.to;
    this.#send = send;
    this.#window = Math.max(1, window);
    this.#credits = this.#window;
    this.#batchSize = Math.max(1, Math.min(batchSize, this.#window));
  }

  /** Records sent and not yet credited back. */
  get inFlight(): number {
    return this.#window - this.#credits;
  }

  /** Records buffered, not yet sent. */
  get buffered(): number {
    return this.#rows.length;
  }

  /** Adds a record; returns true when a full batch is ready to {@link flush}. */
  push(rec: StreamRecord): boolean {
    const project = this.#project;
    if (project) {
      const row = new Array(project.length);
      for (let i = 0; i < project.length; i++) row[i] = rec[project[i]] ?? "";
      this.#rows.push(row);
      return this.#rows.length >= this.#batchSize;
    }
    let cols = this.#cols;
    if (cols !== null && !sameShape(rec, cols)) {
      this.#pendingShapes.push({ cols, rows: this.#rows });
      cols = null;
      this.#rows = [];
    }
    if (cols === null) {
      cols = Object.keys(rec);
      this.#cols = cols;
    }
    const row = new Array(cols.length);
    for (let i = 0; i < cols.length; i++) row[i] = rec[cols[i]];
    this.#rows.push(row);
    return this.#rows.length >= this.#batchSize || this.#pendingShapes.length > 0;
  }

  #pendingShapes: { cols: string[]; rows: (string | number)[][] }[] = [];

  /**
   * Sends everything buffered, waiting for credit as needed; with `all`
   * false only full batches go out and the rest stays buffered (the caller
   * has more records coming right away and flushes all before it waits).
   */
  async flush(all = true): Promise<void> {
    let keep: (string | number)[][] = [];
    if (!all) {
      const rest = this.#rows.length % this.#batchSize;
      if (rest === this.#rows.length && this.#pendingShapes.length === 0) return;
      if (rest > 0) keep = this.#rows.splice(this.#rows.length - rest, rest);
    }
    const parts = this.#pendingShapes;
    this.#pendingShapes = [];
    if (this.#rows.length > 0 && this.#cols) parts.push({ cols: this.#cols, rows: this.#rows });
    this.#rows = keep;
    for (const p of parts) {
      let at = 0;
      while (at < p.rows.length) {
        while (this.#credits <= 0) await this.#waitCredit();
        const n = Math.min(this.#credits, this.#batchSize, p.rows.length - at);
        const rows = at === 0 && n === p.rows.length ? p.rows : p.rows.slice(at, at + n);
        at += n;
        this.#credits -= n;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        this.sent += n;
        await this.#send({ ...this.#base, seq: ++this.#seq, cols: p.cols, rows });
      }
    }
  }

  /** Flushes, then sends barrier `id` (barriers need no credit). */
  async barrier(id: number): Promise<void> {
    await this.flush();
    await this.#send({ ...this.#base, seq: ++this.#seq, cols: [], rows: [], barrier: id });
  }

  /** Flushes, then marks the end of input. */
  async end(): Promise<void> {
    await this.flush();
    await this.#send({ ...this.#base, seq: ++this.#seq, cols: [], rows: [], end: true });
  }

  /** The receiver can take `n` more records. */
  credit(n: number): void {
    this.#credits = Math.min(this.#window, this.#credits + n);
    const w = this.#waiter;
    this.#waiter = null;
    w?.resolve();
  }

  #waitCredit(): Promise<void> {
    if (this.#closed) return Promise.reject(new ChannelClosedError());
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  /** Stops the channel: a sender waiting for credit fails with {@link ChannelClosedError}. */
  close(): void {
    this.#closed = true;
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(new ChannelClosedError());
  }
}

function sameShape(rec: StreamRecord, cols: readonly string[]): boolean {
  let i = 0;
  for (const k in rec) {
    if (cols[i] !== k) return false;
    i++;
  }
  return i === cols.length;
}

/** The receiving side of one channel: order check and credit return. */
export class InputChannel {
  /** Sending task. */
  readonly from: string;
  #nextSeq = 1;
  #owed = 0;
  readonly #threshold: number;
  readonly #grant: (n: number) => void;

  /** `grant` sends credit back to the sender. */
  constructor(from: string, window: number, grant: (n: number) => void) {
    this.from = from;
    this.#threshold = Math.max(1, Math.floor(window / 4));
    this.#grant = grant;
  }

  /** Checks the sequence number of an arriving message; false on a gap or repeat. */
  accept(seq: number): boolean {
    if (seq !== this.#nextSeq) return false;
    this.#nextSeq++;
    return true;
  }

  /** `n` records of this channel were processed; returns credit in chunks. */
  processed(n: number, idle: boolean): void {
    this.#owed += n;
    if (this.#owed >= this.#threshold || (idle && this.#owed > 0)) {
      const k = this.#owed;
      this.#owed = 0;
      this.#grant(k);
    }
  }
}
