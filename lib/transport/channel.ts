/**
 * A framed, ordered, bidirectional channel over a byte stream: the hot path
 * of every connection. Outgoing frames go through a bounded queue (senders
 * wait when it is full) and are written in batches: small frames are encoded
 * straight into a shared batch buffer (one copy, no concatenation later), a
 * large frame gets a buffer of its own; each buffer is one write. Incoming
 * bytes are split by `FrameReader` and decoded against the registry. A malformed frame is rejected and counted; a frame over the
 * maximum closes this channel only.
 *
 * @module
 */
import {
  CodecError,
  decodePayload,
  encodePayloadShared,
  type Envelope,
  FRAME_HEADER_BYTES,
  FrameReader,
  type MessageRegistry,
  writeFrame,
} from "../../proto/codec.ts";
import { errorMessage, TransportError } from "./errors.ts";
import { bump, type TransportLogger, type TransportMetrics } from "./metrics.ts";

/** A byte stream a {@link FrameChannel} runs over (a TLS socket, a QUIC stream). */
export interface ByteDuplex {
  /** Writes `data`; resolves when more may be written (transport backpressure). */
  write(data: Uint8Array): Promise<void>;
  /** Half-closes the sending direction after pending writes. */
  end(): Promise<void>;
  /** Closes both directions at once. */
  destroy(): void;
  /** Starts delivering received bytes; `onEnd` fires once at EOF or on an error. */
  start(onData: (chunk: Uint8Array) => void, onEnd: (err?: Error) => void): void;
  /** Stops delivering received bytes until {@link resume}. */
  pause(): void;
  /** Resumes delivery after {@link pause}. */
  resume(): void;
}

/** An envelope to send (the version is added by the codec). */
export type OutEnvelope = Omit<Envelope, "v">;

/** Callbacks of a {@link FrameChannel}. */
export interface ChannelHandlers {
  /** A valid frame arrived. */
  onEnvelope(env: Envelope): void;
  /** The channel closed; `err` says why when it was not a clean close. */
  onClose(err?: Error): void;
  /** The remote side half-closed; default: close the channel. */
  onRemoteEnd?(): void;
  /** A frame failed to decode (already counted and logged); the raw payload is given. */
  onRejected?(payload: Uint8Array, error: CodecError): void;
}

/** Limits and wiring of a {@link FrameChannel}. */
export interface ChannelOptions {
  /** Registry that validates incoming bodies. */
  registry: MessageRegistry;
  /** Largest frame payload accepted or sent. */
  maxFrameBytes: number;
  /** Bound of the send queue in frames. */
  queueFrames: number;
  /** Bound of the send queue in bytes (a single larger frame is admitted alone). */
  queueBytes: number;
  /** Shared counters. */
  metrics: TransportMetrics;
  /** Where rejected frames are logged. */
  logger: TransportLogger;
  /** Describes the channel in logs, e.g. `tcp m1->m2`. */
  label: string;
}

/** Frames of at least this many bytes get a buffer (and a write) of their own. */
const LARGE_FRAME = 16 * 1024;
/** First capacity of a batch buffer; later ones double while frames keep coming. */
const BATCH_MIN = 2 * 1024;
/** Largest capacity of a batch buffer. */
const BATCH_MAX = 128 * 1024;

/** Bytes waiting to be written: one large frame, or a batch of small ones. */
interface Segment {
  buf: Uint8Array;
  /** Bytes used in `buf`. */
  len: number;
  /** Frames in it. */
  frames: number;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

/** See the module documentation. */
export class FrameChannel {
  readonly #io: ByteDuplex;
  readonly #opts: ChannelOptions;
  #handlers: ChannelHandlers | null = null;
  readonly #reader: FrameReader;
  #queue: Segment[] = [];
  #queueHead = 0;
  /** The last segment of the queue while small frames may still be appended to it. */
  #open: Segment | null = null;
  #queuedFrames = 0;
  #queuedBytes = 0;
  #waiters: Waiter[] = [];
  #pumping = false;
  #closed = false;
  #ending = false;
  #endWaiters: Waiter[] = [];
  #closeError: Error | undefined;

  /** Wraps `io`; call {@link start} to begin reading. */
  constructor(io: ByteDuplex, opts: ChannelOptions) {
    this.#io = io;
    this.#opts = opts;
    this.#reader = new FrameReader({ maxFrameBytes: opts.maxFrameBytes });
  }

  /** Whether the channel has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Frames waiting to be written. */
  get queuedFrames(): number {
    return this.#queuedFrames;
  }

  /** Starts reading and delivering frames to `handlers`. */
  start(handlers: ChannelHandlers): void {
    this.#handlers = handlers;
    this.#io.start((chunk) => this.#onData(chunk), (err) => this.#onEnd(err));
  }

  /** Replaces the handlers (used when a handshake hands the channel to the RPC layer). */
  setHandlers(handlers: ChannelHandlers): void {
    this.#handlers = handlers;
  }

  /**
   * Queues `env` for sending. Resolves once it is queued; waits while the
   * queue is full. Throws `frame_too_large` (the channel stays open) or
   * `peer_unavailable` when the channel is closed.
   */
  send(env: OutEnvelope): Promise<void> {
    if (this.#closed || this.#ending) return Promise.reject(this.#closedError());
    if (this.#waiters.length === 0 && this.#hasRoom()) {
      // Encoded straight into the queue: the encoder's buffer is copied once.
      try {
        this.#enqueue(encodePayloadShared(env, { maxFrameBytes: this.#opts.maxFrameBytes }));
      } catch (e) {
        return Promise.reject(this.#encodeError(e));
      }
      return Promise.resolve();
    }
    let frame: Uint8Array;
    try {
      // Waits in the queue: needs a copy of its own.
      frame = encodePayloadShared(env, { maxFrameBytes: this.#opts.maxFrameBytes }).slice();
    } catch (e) {
      return Promise.reject(this.#encodeError(e));
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({
        resolve: () => {
          this.#enqueue(frame);
          resolve();
        },
        reject,
      });
    });
  }

  #encodeError(e: unknown): unknown {
    if (e instanceof CodecError) return new TransportError("frame_too_large", e.message);
    return e;
  }

  /** Writes everything queued, then half-closes the sending direction. */
  async end(): Promise<void> {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (this.#pumping || this.queuedFrames > 0 || this.#waiters.length > 0) {
      await new Promise<void>((resolve, reject) => this.#endWaiters.push({ resolve, reject }));
    }
    try {
      await this.#io.end();
    } catch (e) {
      this.close(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Closes the channel now; queued frames are discarded and waiting senders fail. */
  close(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = err;
    const failure = this.#closedError();
    for (const w of this.#waiters) w.reject(failure);
    for (const w of this.#endWaiters) w.resolve();
    this.#waiters = [];
    this.#endWaiters = [];
    this.#queue = [];
    this.#queueHead = 0;
    this.#open = null;
    this.#queuedFrames = 0;
    this.#queuedBytes = 0;
    try {
      this.#io.destroy();
    } catch {
      // already gone
    }
    this.#handlers?.onClose(err);
  }

  /** Stops reading (inbound backpressure). */
  pause(): void {
    this.#io.pause();
  }

  /** Resumes reading. */
  resume(): void {
    this.#io.resume();
  }

  #closedError(): TransportError {
    const why = this.#closeError ? `: ${this.#closeError.message}` : "";
    return new TransportError("peer_unavailable", `connection ${this.#opts.label} is closed${why}`);
  }

  #hasRoom(): boolean {
    const n = this.queuedFrames;
    if (n === 0) return true;
    return n < this.#opts.queueFrames && this.#queuedBytes < this.#opts.queueBytes;
  }

  /** Appends the frame of `payload` to the queue (copying it) and makes sure the pump runs. */
  #enqueue(payload: Uint8Array): void {
    const size = FRAME_HEADER_BYTES + payload.byteLength;
    if (size >= LARGE_FRAME) {
      this.#open = null;
      const buf = new Uint8Array(size);
      writeFrame(buf, 0, payload);
      this.#queue.push({ buf, len: size, frames: 1 });
    } else {
      let seg = this.#open;
      if (seg === null || seg.buf.byteLength - seg.len < size) {
        const cap = seg === null ? BATCH_MIN : Math.min(BATCH_MAX, seg.buf.byteLength * 2);
        seg = { buf: new Uint8Array(Math.max(cap, size)), len: 0, frames: 0 };
        this.#queue.push(seg);
        this.#open = seg;
      }
      writeFrame(seg.buf, seg.len, payload);
      seg.len += size;
      seg.frames++;
    }
    this.#queuedFrames++;
    this.#queuedBytes += size;
    if (!this.#pumping) {
      this.#pumping = true;
      queueMicrotask(() => this.#pump());
    }
  }

  #admitWaiters(): void {
    while (this.#waiters.length > 0 && this.#hasRoom() && !this.#closed) {
      this.#waiters.shift()!.resolve();
    }
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#closed && this.queuedFrames > 0) {
        const batch = this.#takeBatch();
        this.#admitWaiters();
        this.#opts.metrics.writes++;
        this.#opts.metrics.bytesOut += batch.byteLength;
        await this.#io.write(batch);
        // Let senders woken above add more frames before the next batch.
        if (this.queuedFrames === 0 && this.#waiters.length > 0) this.#admitWaiters();
      }
    } catch (e) {
      this.close(new Error(`write failed: ${errorMessage(e)}`));
    } finally {
      this.#pumping = false;
      if (!this.#closed && this.queuedFrames > 0) {
        this.#pumping = true;
        queueMicrotask(() => this.#pump());
      } else if (this.queuedFrames === 0 && this.#waiters.length === 0) {
        const ends = this.#endWaiters;
        this.#endWaiters = [];
        for (const w of ends) w.resolve();
      }
    }
  }

  /** The next buffer to write (the open batch is closed when taken). */
  #takeBatch(): Uint8Array {
    const seg = this.#queue[this.#queueHead++];
    if (seg === this.#open) this.#open = null;
    this.#queuedFrames -= seg.frames;
    this.#queuedBytes -= seg.len;
    this.#opts.metrics.framesOut += seg.frames;
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    return seg.len === seg.buf.byteLength ? seg.buf : seg.buf.subarray(0, seg.len);
  }

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    const m = this.#opts.metrics;
    m.bytesIn += chunk.byteLength;
    this.#reader.push(chunk);
    for (;;) {
      if (this.#closed) return;
      const next = this.#reader.next();
      if (next === null) return;
      if (next instanceof CodecError) {
        bump(m.rejectedFrames, next.code);
        m.oversizedCloses++;
        this.#opts.logger.warn("closing connection: {reason}", {
          reason: next.message,
          connection: this.#opts.label,
        });
        this.close(new TransportError("frame_too_large", next.message));
        return;
      }
      const res = decodePayload(next, this.#opts.registry, {
        maxFrameBytes: this.#opts.maxFrameBytes,
      });
      if (!res.ok) {
        bump(m.rejectedFrames, res.error.code);
        this.#opts.logger.warn("rejected frame ({code}): {reason}", {
          code: res.error.code,
          reason: res.error.message,
          connection: this.#opts.label,
        });
        this.#handlers?.onRejected?.(next, res.error);
        continue;
      }
      m.framesIn++;
      try {
        this.#handlers?.onEnvelope(res.value);
      } catch (e) {
        this.#opts.logger.error("frame handler failed: {error}", {
          error: errorMessage(e),
          connection: this.#opts.label,
        });
      }
    }
  }

  #onEnd(err?: Error): void {
    if (this.#closed) return;
    if (err) {
      this.close(err);
      return;
    }
    if (this.#handlers?.onRemoteEnd) this.#handlers.onRemoteEnd();
    else this.close();
  }
}
