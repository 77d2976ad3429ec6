/**
 * The one wire format: length-prefixed msgpack frames in a versioned envelope.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload, a
 * msgpack array `[version, kind, id, type, body, deadlineMs?]`. The body is
 * validated by the schema registered for `type`. Decoding never throws: it
 * returns a typed value or a {@link CodecError}, and it never allocates more
 * than the configured maximum frame size, whatever length a frame claims.
 *
 * @module
 */
import { Decoder, Encoder } from "@msgpack/msgpack";
import { type Schema, SchemaError } from "./schema.ts";

/** The current wire version. A peer sending another version is rejected. */
export const WIRE_VERSION = 1;

/** Bytes in the length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** Default maximum payload size of one frame (16 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** What a frame is for, so the RPC layer can route it without looking at the body. */
export const FrameKind = {
  /** A one-way message: no reply expected. */
  Message: 0,
  /** A request; the reply carries the same id. */
  Request: 1,
  /** A successful reply to the request with the same id. */
  Response: 2,
  /** A failed reply; body is an {@link ErrorBody}. */
  Error: 3,
  /** The caller gave up on request `id`. */
  Cancel: 4,
} as const;
/** One of the {@link FrameKind} values. */
export type FrameKind = typeof FrameKind[keyof typeof FrameKind];

/** A decoded frame with its body typed by the registry. */
export interface Envelope<T = unknown> {
  /** Wire version, always {@link WIRE_VERSION} after decoding. */
  v: number;
  /** What the frame is for. */
  kind: FrameKind;
  /** Correlation id of a request and its reply; 0 for one-way messages. */
  id: number;
  /** Registered message type, e.g. `raft.append`. */
  type: string;
  /** The validated body. */
  body: T;
  /** Milliseconds the caller is still willing to wait, for requests. */
  deadlineMs?: number;
}

/** Body of an {@link FrameKind.Error} frame. */
export interface ErrorBody {
  /** Stable error code, e.g. `deadline_exceeded`. */
  code: string;
  /** Human-readable explanation. */
  message: string;
}

/** Stable codes of decoding failures. */
export type CodecErrorCode =
  | "truncated"
  | "oversized"
  | "bad_version"
  | "unknown_type"
  | "bad_field"
  | "malformed";

/** A typed decoding failure; never thrown by the decoder, always returned. */
export class CodecError extends Error {
  /** The stable code of this failure. */
  readonly code: CodecErrorCode;
  /** Creates an error with a stable code. */
  constructor(code: CodecErrorCode, message: string) {
    super(message);
    this.name = "CodecError";
    this.code = code;
  }
}

/** The result of decoding: a value or a typed error. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: CodecError };

/** Maps message types to the schema of their body. */
export class MessageRegistry {
  #schemas = new Map<string, Schema<unknown>>();

  /** Registers every `type → schema` pair of `messages`; a duplicate type is a programming error. */
  register(messages: Record<string, Schema<unknown>>): this {
    for (const [type, schema] of Object.entries(messages)) {
      if (this.#schemas.has(type)) throw new Error(`message type registered twice: ${type}`);
      this.#schemas.set(type, schema);
    }
    return this;
  }

  /** The schema for `type`, if registered. */
  get(type: string): Schema<unknown> | undefined {
    return this.#schemas.get(type);
  }

  /** All registered types, sorted. */
  types(): string[] {
    return [...this.#schemas.keys()].sort();
  }
}

/** Options shared by the encoder and decoder. */
export interface CodecOptions {
  /** Largest payload accepted or produced, in bytes. */
  maxFrameBytes?: number;
}

const encoder = new Encoder({ ignoreUndefined: true });

/**
 * Encodes the payload of `env` (no length prefix) into the encoder's shared
 * buffer and returns a view of it, valid only until the next encode: copy it
 * (e.g. with {@link writeFrame}) before encoding anything else. Throws an
 * `oversized` {@link CodecError} if it exceeds the maximum.
 */
export function encodePayloadShared(env: Omit<Envelope, "v">, opts: CodecOptions = {}): Uint8Array {
  const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const arr: unknown[] = env.deadlineMs === undefined
    ? [WIRE_VERSION, env.kind, env.id, env.type, env.body]
    : [WIRE_VERSION, env.kind, env.id, env.type, env.body, env.deadlineMs];
  const payload = encoder.encodeSharedRef(arr);
  if (payload.byteLength > max) {
    throw new CodecError(
      "oversized",
      `frame of ${payload.byteLength} bytes exceeds the maximum of ${max} bytes (type ${env.type})`,
    );
  }
  return payload;
}

/** Writes `payload` as one frame (length prefix, then the bytes) into `dst` at `at`. */
export function writeFrame(dst: Uint8Array, at: number, payload: Uint8Array): void {
  const len = payload.byteLength;
  dst[at] = len >>> 24;
  dst[at + 1] = (len >>> 16) & 0xff;
  dst[at + 2] = (len >>> 8) & 0xff;
  dst[at + 3] = len & 0xff;
  dst.set(payload, at + FRAME_HEADER_BYTES);
}

/** Encodes an envelope as one frame (length prefix included). Throws if it exceeds the maximum. */
export function encodeFrame(env: Omit<Envelope, "v">, opts: CodecOptions = {}): Uint8Array {
  const payload = encodePayloadShared(env, opts);
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrame(out, 0, payload);
  return out;
}

function decoderFor(max: number): Decoder {
  return new Decoder({
    maxStrLength: max,
    maxBinLength: max,
    maxArrayLength: max,
    maxMapLength: max,
    maxExtLength: max,
  });
}

const decoders = new Map<number, Decoder>();
function cachedDecoder(max: number): Decoder {
  let d = decoders.get(max);
  if (!d) {
    d = decoderFor(max);
    decoders.set(max, d);
  }
  return d;
}

/** Decodes one frame payload (without its length prefix) against `registry`. */
export function decodePayload(
  payload: Uint8Array,
  registry: MessageRegistry,
  opts: CodecOptions = {},
): DecodeResult<Envelope> {
  const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (payload.byteLength > max) {
    return err("oversized", `frame of ${payload.byteLength} bytes exceeds ${max}`);
  }
  let raw: unknown;
  try {
    raw = cachedDecoder(max).decode(payload);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (
      e instanceof RangeError &&
      /insufficient data|outside the bounds|out of (range|bounds)/i.test(msg)
    ) {
      return err("truncated", `frame payload is truncated: ${msg}`);
    }
    return err("malformed", `frame payload is not valid msgpack: ${msg}`);
  }
  if (!Array.isArray(raw) || raw.length < 5 || raw.length > 6) {
    return err("malformed", "envelope must be an array [version, kind, id, type, body, deadline?]");
  }
  const [v, kind, id, type, body, deadlineMs] = raw;
  if (v !== WIRE_VERSION) {
    return err(
      "bad_version",
      `wire version ${String(v)} is not supported (expected ${WIRE_VERSION})`,
    );
  }
  if (typeof kind !== "number" || !Number.isInteger(kind) || kind < 0 || kind > 4) {
    return err("bad_field", `envelope.kind: expected 0..4, got ${String(kind)}`);
  }
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
    return err("bad_field", "envelope.id: expected uint");
  }
  if (typeof type !== "string" || type.length === 0 || type.length > 128) {
    return err("bad_field", "envelope.type: expected a string of 1..128 characters");
  }
  if (
    deadlineMs !== undefined &&
    (typeof deadlineMs !== "number" || !Number.isFinite(deadlineMs) || deadlineMs < 0)
  ) {
    return err("bad_field", "envelope.deadlineMs: expected a non-negative number");
  }
  let schema: Schema<unknown> | undefined;
  if (kind === FrameKind.Error) schema = errorBodySchema;
  else if (kind === FrameKind.Cancel) schema = cancelBodySchema;
  else schema = registry.get(type);
  if (!schema) return err("unknown_type", `unknown message type "${type}"`);
  try {
    schema.parse(body, "body");
  } catch (e) {
    if (e instanceof SchemaError) return err("bad_field", `${type}: ${e.message}`);
    return err("bad_field", `${type}: ${String(e)}`);
  }
  const value: Envelope = { v, kind: kind as FrameKind, id, type, body };
  if (deadlineMs !== undefined) value.deadlineMs = deadlineMs;
  return { ok: true, value };
}

/** Decodes exactly one complete frame (length prefix included). */
export function decodeFrame(
  frame: Uint8Array,
  registry: MessageRegistry,
  opts: CodecOptions = {},
): DecodeResult<Envelope> {
  const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (frame.byteLength < FRAME_HEADER_BYTES) {
    return err("truncated", `frame of ${frame.byteLength} bytes is shorter than its header`);
  }
  const len = readLength(frame, 0);
  if (len > max) return err("oversized", `frame claims ${len} bytes; the maximum is ${max}`);
  const have = frame.byteLength - FRAME_HEADER_BYTES;
  if (have < len) return err("truncated", `frame claims ${len} bytes but only ${have} arrived`);
  if (have > len) return err("malformed", `${have - len} trailing bytes after the frame`);
  return decodePayload(frame.subarray(FRAME_HEADER_BYTES), registry, opts);
}

function err(code: CodecErrorCode, message: string): { ok: false; error: CodecError } {
  return { ok: false, error: new CodecError(code, message) };
}

const errorBodySchema: Schema<ErrorBody> = {
  describe: "{code,message}",
  parse(v, path = "") {
    if (typeof v !== "object" || v === null) throw new SchemaError(path, "expected object");
    const o = v as Record<string, unknown>;
    if (typeof o.code !== "string" || o.code.length > 128) {
      throw new SchemaError(`${path}.code`, "expected string<=128");
    }
    if (typeof o.message !== "string" || o.message.length > 65536) {
      throw new SchemaError(`${path}.message`, "expected string<=65536");
    }
    return { code: o.code, message: o.message };
  },
};

const cancelBodySchema: Schema<null> = {
  describe: "null",
  parse(v, path = "") {
    if (v !== null) throw new SchemaError(path, "expected null");
    return null;
  },
};

/** The big-endian 32-bit length at `at` (the caller checked that 4 bytes are there). */
function readLength(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

const NO_BYTES = new Uint8Array(0);

/**
 * Incremental frame splitter for a byte stream. Push chunks as they arrive;
 * pull complete frames. A header claiming more than the maximum is reported
 * at once (before its body arrives), so the caller can close the connection.
 *
 * Every payload returned is a buffer of its own that the reader never
 * writes to again (a decoded message may keep views into it). Copies are
 * kept to at most one per frame: a chunk pushed while nothing is buffered is
 * read in place (so a pushed chunk must not be modified afterwards), a frame
 * filling most of a chunk is handed out in place, and a large frame
 * assembled in the reader's buffer is handed out as it is, the buffer being
 * replaced. Memory grows only with bytes actually received,
 * never with the length a frame claims.
 */
export class FrameReader {
  /** Read-only bytes being consumed: a pushed chunk, or the tail of a handed-out buffer. */
  #src: Uint8Array = NO_BYTES;
  #srcPos = 0;
  /** Owned buffer for a frame that spans chunks. */
  #buf: Uint8Array = NO_BYTES;
  #start = 0;
  #end = 0;
  readonly #max: number;

  /** Creates a reader accepting payloads up to `maxFrameBytes`. */
  constructor(opts: CodecOptions = {}) {
    this.#max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#src.byteLength - this.#srcPos + this.#end - this.#start;
  }

  /** Appends received bytes; the reader may keep `chunk`, which must not change afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    const srcLive = this.#src.byteLength - this.#srcPos;
    if (srcLive === 0 && this.#end === this.#start) {
      this.#src = chunk;
      this.#srcPos = 0;
      this.#start = this.#end = 0;
      return;
    }
    if (srcLive > 0) {
      // Only a partial frame is left in the read-only source: move it to an owned buffer.
      const rest = this.#src.subarray(this.#srcPos);
      this.#src = NO_BYTES;
      this.#srcPos = 0;
      this.#reserve(rest.byteLength + chunk.byteLength, rest, chunk);
      this.#buf.set(rest, this.#end);
      this.#end += rest.byteLength;
    } else if (this.#buf.byteLength - this.#end < chunk.byteLength) {
      this.#reserve(this.#end - this.#start + chunk.byteLength, null, chunk);
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /**
   * Makes room for `need` live bytes at the end of an owned buffer. A frame
   * whose header is known is given at most its own size, so a complete large
   * frame fills its buffer exactly and can be handed out without a copy.
   */
  #reserve(need: number, head: Uint8Array | null, chunk: Uint8Array): void {
    const live = this.#end - this.#start;
    if (need <= this.#buf.byteLength) {
      // The owned buffer is big enough: reuse it (it was never handed out).
      if (head === null) this.#buf.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = head === null ? live : 0;
      return;
    }
    const first = head ?? this.#buf.subarray(this.#start, this.#end);
    let cap = Math.max(need * 2, 4096);
    if (first.byteLength + chunk.byteLength >= FRAME_HEADER_BYTES) {
      // The header may straddle the buffered bytes and the new chunk.
      let len = 0;
      for (let i = 0; i < FRAME_HEADER_BYTES; i++) {
        const b = i < first.byteLength ? first[i] : chunk[i - first.byteLength];
        len = len * 256 + b;
      }
      const frame = FRAME_HEADER_BYTES + len;
      if (frame >= need && frame <= this.#max + FRAME_HEADER_BYTES) {
        cap = Math.min(cap, Math.max(frame, 4096));
      }
    }
    const next = new Uint8Array(cap);
    if (head === null) next.set(first, 0);
    this.#buf = next;
    this.#start = 0;
    this.#end = head === null ? live : 0;
  }

  /**
   * The next complete payload, `null` if more bytes are needed, or an
   * `oversized` error if the next frame claims more than the maximum.
   */
  next(): Uint8Array | null | CodecError {
    const src = this.#src;
    const srcLive = src.byteLength - this.#srcPos;
    if (srcLive > 0) {
      if (srcLive < FRAME_HEADER_BYTES) return null;
      const len = readLength(src, this.#srcPos);
      if (len > this.#max) return this.#oversized(len);
      if (srcLive < FRAME_HEADER_BYTES + len) return null;
      const from = this.#srcPos + FRAME_HEADER_BYTES;
      this.#srcPos = from + len;
      if (this.#srcPos === src.byteLength) {
        this.#src = NO_BYTES;
        this.#srcPos = 0;
      }
      // A frame that fills most of its chunk is handed out in place; a small one is copied
      // so that a message kept for long does not pin the whole chunk.
      return len >= src.buffer.byteLength >>> 2
        ? src.subarray(from, from + len)
        : src.slice(from, from + len);
    }
    const avail = this.#end - this.#start;
    if (avail < FRAME_HEADER_BYTES) return null;
    const buf = this.#buf;
    const len = readLength(buf, this.#start);
    if (len > this.#max) return this.#oversized(len);
    if (avail < FRAME_HEADER_BYTES + len) return null;
    const from = this.#start + FRAME_HEADER_BYTES;
    const to = from + len;
    if (len >= buf.byteLength >>> 2) {
      // A large frame: hand the buffer out and read what follows it from there, read-only.
      this.#buf = NO_BYTES;
      if (to < this.#end) {
        this.#src = buf.subarray(to, this.#end);
        this.#srcPos = 0;
      }
      this.#start = this.#end = 0;
      return buf.subarray(from, to);
    }
    this.#start = to;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return buf.slice(from, to);
  }

  #oversized(len: number): CodecError {
    return new CodecError("oversized", `frame claims ${len} bytes; the maximum is ${this.#max}`);
  }
}
