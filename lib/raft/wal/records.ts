/**
 * Write-ahead-log record framing: `[u32 length][u32 crc32][payload]`, where
 * the payload is msgpack `[type, body]`. Replay stops at the first torn record
 * at the tail (a crash mid-write) and reports corruption anywhere else.
 *
 * @module
 */
import { Decoder, Encoder } from "@msgpack/msgpack";
import { crc32 } from "./crc32.ts";

/** One replicated log entry as the WAL stores it. */
export interface WalEntry {
  /** Log index (1-based). */
  index: number;
  /** Term the entry was created in. */
  term: number;
  /** Entry kind as the Raft core defines it (normal, config change, ...). */
  type: number;
  /** The entry payload. */
  data: Uint8Array;
}

/** Raft's persistent hard state. */
export interface WalHardState {
  /** Current term. */
  term: number;
  /** Candidate voted for in `term`, or empty. */
  vote: string;
  /** Highest index known committed. */
  commit: number;
}

/** A WAL record. */
export type WalRecord =
  | { type: "entries"; entries: WalEntry[] }
  | { type: "hardstate"; state: WalHardState }
  | { type: "snapshot"; index: number; term: number };

const HEADER = 8;
const encoder = new Encoder();
const decoder = new Decoder();

/** Frames one record for appending to a segment. */
export function encodeRecord(rec: WalRecord): Uint8Array {
  let body: unknown;
  if (rec.type === "entries") {
    body = [0, rec.entries.map((e) => [e.index, e.term, e.type, e.data])];
  } else if (rec.type === "hardstate") {
    body = [1, [rec.state.term, rec.state.vote, rec.state.commit]];
  } else body = [2, [rec.index, rec.term]];
  const payload = encoder.encode(body);
  const out = new Uint8Array(HEADER + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, payload.length);
  dv.setUint32(4, crc32(payload));
  out.set(payload, HEADER);
  return out;
}

/** Result of scanning a segment. */
export interface ScanResult {
  /** Records decoded in order. */
  records: WalRecord[];
  /** Byte offset just after the last good record. */
  validBytes: number;
  /** Why the scan stopped early, if it did: `torn` at the tail, or `corrupt`. */
  stop?: { kind: "torn" | "corrupt"; offset: number; reason: string };
}

/**
 * Decodes every record of a segment. A record that is cut short, or a bad
 * record with nothing valid after it, is a torn tail (safe to truncate): it
 * can only be a write that never completed its fsync. A bad record followed by
 * more data is corruption.
 */
export function scanRecords(buf: Uint8Array): ScanResult {
  const records: WalRecord[] = [];
  let off = 0;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  while (off < buf.length) {
    if (buf.length - off < HEADER) {
      return {
        records,
        validBytes: off,
        stop: { kind: "torn", offset: off, reason: "short header" },
      };
    }
    const len = dv.getUint32(off);
    const sum = dv.getUint32(off + 4);
    const end = off + HEADER + len;
    if (end > buf.length) {
      return {
        records,
        validBytes: off,
        stop: { kind: "torn", offset: off, reason: "short record" },
      };
    }
    const payload = buf.subarray(off + HEADER, end);
    const rec = crc32(payload) === sum ? decodeBody(payload) : undefined;
    if (!rec) {
      const kind = end === buf.length || allZero(buf.subarray(end)) ? "torn" : "corrupt";
      return { records, validBytes: off, stop: { kind, offset: off, reason: "checksum mismatch" } };
    }
    records.push(rec);
    off = end;
  }
  return { records, validBytes: off };
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function decodeBody(payload: Uint8Array): WalRecord | undefined {
  let v: unknown;
  try {
    v = decoder.decode(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || !Array.isArray(v[1])) return undefined;
  const [t, b] = v as [unknown, unknown[]];
  if (t === 0) {
    const entries: WalEntry[] = [];
    for (const e of b) {
      if (!Array.isArray(e) || e.length !== 4) return undefined;
      const [index, term, type, data] = e;
      if (!isUint(index) || !isUint(term) || !isUint(type) || !(data instanceof Uint8Array)) {
        return undefined;
      }
      entries.push({ index, term, type, data });
    }
    return { type: "entries", entries };
  }
  if (t === 1 && b.length === 3 && isUint(b[0]) && typeof b[1] === "string" && isUint(b[2])) {
    return { type: "hardstate", state: { term: b[0], vote: b[1], commit: b[2] } };
  }
  if (t === 2 && b.length === 2 && isUint(b[0]) && isUint(b[1])) {
    return { type: "snapshot", index: b[0], term: b[1] };
  }
  return undefined;
}

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}
