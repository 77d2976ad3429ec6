/**
 * Bulk streams: a pair of byte streams (one per direction) inside a stream
 * RPC, for payloads too large for one frame (file blocks, record batches).
 * Data travels in `transport.data` frames of at most 64 KiB; the receiver
 * grants credit (`transport.credit`) as its consumer reads, so a sender
 * never has more than one window of unread data in flight and memory stays
 * bounded on both sides. A sender exceeding its credit is a protocol error.
 *
 * @module
 */
import { FrameKind } from "../../proto/codec.ts";
import {
  MAX_STREAM_CHUNK_BYTES,
  type StreamCreditMsg,
  type StreamDataMsg,
} from "../../proto/transport.ts";
import type { OutEnvelope } from "./channel.ts";
import { TransportError } from "./errors.ts";

/** Default flow-control window per direction (bytes of unread data in flight). */
export const DEFAULT_STREAM_WINDOW = 1024 * 1024;

/** The byte streams of one bulk stream, as the opener and the handler see them. */
export interface BulkStream {
  /** Bytes the peer sends; ends when the peer finishes its direction. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to send; `close()` finishes this direction, `abort()` cancels the stream. */
  readonly writable: WritableStream<Uint8Array>;
}

const EMPTY = new Uint8Array(0);

/** One end of a bulk stream (see the module documentation). */
export class BulkPipe implements BulkStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly #send: (env: OutEnvelope) => Promise<void>;
  readonly #id: number;
  readonly #window: number;
  readonly #onAbort: (reason: Error) => void;
  // sending side
  #credit: number;
  #creditWaiter: { resolve(): void; reject(e: Error): void } | null = null;
  #writeDone = false;
  // receiving side
  #queue: Uint8Array[] = [];
  #finReceived = false;
  #received = 0;
  #consumed = 0;
  #granted = 0;
  #pullWaiter: (() => void) | null = null;
  #readError: Error | null = null;
  #writeError: Error | null = null;

  /**
   * Creates one end for stream `id`. `send` writes a frame to the peer;
   * `onAbort` runs when the local user aborts or cancels either stream.
   */
  constructor(
    id: number,
    send: (env: OutEnvelope) => Promise<void>,
    onAbort: (reason: Error) => void,
    window = DEFAULT_STREAM_WINDOW,
  ) {
    this.#id = id;
    this.#send = send;
    this.#onAbort = onAbort;
    this.#window = window;
    this.#credit = window;
    this.#granted = window;
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#write(chunk),
      close: () => this.#finish(),
      abort: (reason) => this.#localAbort(reason),
    }, { highWaterMark: 1 });
    this.readable = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: (reason) => this.#localAbort(reason),
    }, { highWaterMark: 0 });
  }

  /** Whether this side has finished sending. */
  get writeDone(): boolean {
    return this.#writeDone;
  }

  async #write(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.byteLength; at += MAX_STREAM_CHUNK_BYTES) {
      const piece = chunk.subarray(at, Math.min(chunk.byteLength, at + MAX_STREAM_CHUNK_BYTES));
      while (this.#credit < piece.byteLength) {
        if (this.#writeError) throw this.#writeError;
        await new Promise<void>((resolve, reject) => this.#creditWaiter = { resolve, reject });
      }
      if (this.#writeError) throw this.#writeError;
      this.#credit -= piece.byteLength;
      const body: StreamDataMsg = { d: piece };
      await this.#send({ kind: FrameKind.Message, id: this.#id, type: "transport.data", body });
    }
  }

  /** Finishes this direction (sends the final, empty chunk with `fin`). */
  async #finish(): Promise<void> {
    if (this.#writeDone || this.#writeError) return;
    this.#writeDone = true;
    const body: StreamDataMsg = { d: EMPTY, fin: true };
    await this.#send({ kind: FrameKind.Message, id: this.#id, type: "transport.data", body });
  }

  /** Finishes this direction unless the user already did; used when a handler returns. */
  async finishIfOpen(): Promise<void> {
    if (this.#writeDone || this.#writeError) return;
    // Closing through the writer would fail if the user holds a lock on it.
    if (this.writable.locked) await this.#finish();
    else await this.writable.close().catch(() => this.#finish());
  }

  #localAbort(reason: unknown): void {
    const err = reason instanceof Error
      ? reason
      : new TransportError("cancelled", `stream cancelled: ${String(reason ?? "aborted")}`);
    this.fail(err);
    this.#onAbort(err);
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.#queue.length === 0) {
      if (this.#readError) throw this.#readError;
      if (this.#finReceived) {
        controller.close();
        return;
      }
      await new Promise<void>((resolve) => this.#pullWaiter = resolve);
    }
    const chunk = this.#queue.shift()!;
    controller.enqueue(chunk);
    this.#consumed += chunk.byteLength;
    const outstanding = this.#granted - this.#consumed;
    if (
      !this.#finReceived && outstanding <= this.#window - Math.min(this.#window / 4, 256 * 1024)
    ) {
      const n = this.#consumed + this.#window - this.#granted;
      this.#granted += n;
      const body: StreamCreditMsg = { n };
      this.#send({ kind: FrameKind.Message, id: this.#id, type: "transport.credit", body })
        .catch((e) => this.fail(e instanceof Error ? e : new Error(String(e))));
    }
  }

  /** Delivers a `transport.data` frame from the peer. */
  onData(msg: StreamDataMsg): void {
    if (this.#readError || this.#finReceived) return;
    this.#received += msg.d.byteLength;
    if (this.#received > this.#granted) {
      const e = new TransportError(
        "protocol_error",
        `stream ${this.#id}: peer sent ${this.#received} bytes with ${this.#granted} of credit`,
      );
      this.fail(e);
      this.#onAbort(e);
      return;
    }
    if (msg.d.byteLength > 0) this.#queue.push(msg.d);
    if (msg.fin) this.#finReceived = true;
    this.#wakePull();
  }

  /** Delivers a `transport.credit` frame from the peer. */
  onCredit(msg: StreamCreditMsg): void {
    this.#credit += msg.n;
    const w = this.#creditWaiter;
    this.#creditWaiter = null;
    w?.resolve();
  }

  /**
   * The stream ended (final reply or failure): pending and later writes fail
   * with `err`; reads fail too unless the peer already finished its direction
   * (then the buffered data stays readable).
   */
  fail(err: Error): void {
    if (!this.#writeError) {
      this.#writeError = err;
      const w = this.#creditWaiter;
      this.#creditWaiter = null;
      w?.reject(err);
    }
    if (!this.#finReceived && !this.#readError) {
      this.#readError = err;
      this.#wakePull();
    }
  }

  #wakePull(): void {
    const w = this.#pullWaiter;
    this.#pullWaiter = null;
    w?.();
  }
}
