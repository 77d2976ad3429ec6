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

/** Encodes an envelope as one frame (length prefix included). Throws if it exceeds the maximum. */
export function encodeFrame(env: Omit<Envelope, "v">, opts: CodecOptions = {}): Uint8Array {
  const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const arr: unknown[] = [WIRE_VERSION, env.kind, env.id, env.type, env.body];
  if (env.deadlineMs !== undefined) arr.push(env.deadlineMs);
  const payload = encoder.encode(arr);
  if (payload.byteLength > max) {
    throw new CodecError(
      "oversized",
      `frame of ${payload.byteLength} bytes exceeds the maximum of ${max} bytes (type ${env.type})`,
    );
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, FRAME_HEADER_BYTES);
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
  const len = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0);
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

/**
 * Incremental frame splitter for a byte stream. Push chunks as they arrive;
 * pull complete frames. A header claiming more than the maximum is reported
 * at once (before its body arrives), so the caller can close the connection.
 */
export class FrameReader {
  #buf: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
  readonly #max: number;

  /** Creates a reader accepting payloads up to `maxFrameBytes`. */
  constructor(opts: CodecOptions = {}) {
    this.#max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (this.#buf.byteLength - this.#end < chunk.byteLength) {
      const live = this.#end - this.#start;
      const need = live + chunk.byteLength;
      if (need <= this.#buf.byteLength) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const next = new Uint8Array(Math.max(need, this.#buf.byteLength * 2, 4096));
        next.set(this.#buf.subarray(this.#start, this.#end), 0);
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /**
   * The next complete payload, `null` if more bytes are needed, or an
   * `oversized` error if the next frame claims more than the maximum.
   */
  next(): Uint8Array | null | CodecError {
    const avail = this.#end - this.#start;
    if (avail < FRAME_HEADER_BYTES) return null;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#start, 4).getUint32(0);
    if (len > this.#max) {
      return new CodecError("oversized", `frame claims ${len} bytes; the maximum is ${this.#max}`);
    }
    if (avail < FRAME_HEADER_BYTES + len) return null;
    const from = this.#start + FRAME_HEADER_BYTES;
    const payload = this.#buf.slice(from, from + len);
    this.#start = from + len;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return payload;
  }
}
